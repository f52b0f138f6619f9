"""The ``vq`` latent channel (Di-LADD): codes in range, the mask id never a code, a finite EMA codebook."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ladd_core.plugins import get_components
from ladd_core.testing.strategies import generator_from, seeds
from ladd_core.testing.toys import build_kind, tiny_config

COMPS = get_components()
pytestmark = pytest.mark.skipif("vq" not in COMPS.registry("latent"), reason="no vq latent registered")

SCALES = st.sampled_from([0.0, 1e-30, 1e-6, 1.0, 1e6, 1e30])


def channel(codebook: int, decay: float, dead: float, dim: int = 4):
    data = tiny_config(COMPS, "latent", "vq", {"codebook_size": codebook, "ema_decay": decay, "dead_threshold": dead})
    data["encoder"]["dim"] = dim
    return build_kind(COMPS, "latent", data, vocab_size=3, seq_len=6)


@given(st.integers(2, 8), st.floats(0.01, 0.99), st.floats(0.0, 3.0), st.lists(SCALES, min_size=1, max_size=6), seeds())
def test_ema_updates_keep_the_codebook_finite_and_codes_in_range(codebook, decay, dead, scales, seed):
    ch = channel(codebook, decay, dead)
    q = ch.quantizer.train()
    g = generator_from(seed)
    degenerate = False
    for scale in scales:  # a sequence of batches of very different magnitudes (zeros included)
        degenerate |= not 1e-6 <= scale <= 1e18  # zero, or past float32's norm range: no usable direction
        z = scale * torch.randn(5, 2, q.dim, generator=g)
        out = q(z, update=True, generator=g)
        assert out.codes.dtype == torch.long and ((out.codes >= 0) & (out.codes < codebook)).all()
        assert not (out.codes == ch.mask_id).any(), "the mask id was produced as a code"
        for buf in (q.codebook, q.cluster_size, q.embed_sum):
            assert torch.isfinite(buf).all(), "non-finite codebook state"
        assert (q.cluster_size >= 0).all()
        if not degenerate:  # directionless inputs shrink code vectors through the EMA (finite, not unit)
            assert ((q.codebook.norm(dim=-1) - 1).abs() < 1e-4).all(), "code vectors must stay unit-norm"
        if scale <= 1e6:  # beyond, z + (z_q - z).detach() cancels in float32 and (z - z_q)^2 overflows
            assert torch.isfinite(out.z_q).all() and torch.isfinite(out.commit_loss).all()


@given(st.integers(2, 8), seeds(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_sampling_steps_never_produce_the_mask_as_a_code(codebook, seed, t1, t2):
    ch = channel(codebook, 0.9, 0.0).eval()
    g = generator_from(seed)
    s, t = sorted((t1, t2))
    b, k = 64, ch.num_slots
    state = ch.sample_prior(b, torch.device("cpu"), g)
    assert (state == ch.mask_id).all()
    state = torch.where(torch.rand(b, k, generator=g) < 0.5, torch.randint(0, codebook, (b, k), generator=g), state)
    logits = 4 * torch.randn(b, k, codebook + 1, generator=g)  # an extra mask column must be ignored
    tt, ss = torch.full((b,), t, dtype=torch.float64), torch.full((b,), s, dtype=torch.float64)
    new = ch.latent_step(state, logits, tt, ss, g)
    revealed_before = state != ch.mask_id
    assert torch.equal(new[revealed_before], state[revealed_before]), "a revealed code changed or was re-masked"
    assert ((new >= 0) & (new <= ch.mask_id)).all()
    final = ch.latent_finalize(new, logits, ss, g)
    assert ((final >= 0) & (final < codebook)).all(), "finalize left a mask or an out-of-range code"
    lp = ch.code_log_probs(logits, new)
    assert torch.allclose(lp.double().logsumexp(-1), torch.zeros(()).double(), atol=1e-5)


@given(st.integers(2, 8), seeds())
def test_training_codes_index_the_codebook(codebook, seed):
    ch = channel(codebook, 0.9, 1.0).train()
    g = generator_from(seed)
    x0 = torch.randint(0, 3, (8, 6), generator=g)
    z = ch.proj(ch.encoder(x0, torch.ones_like(x0, dtype=torch.bool)))
    out = ch.quantizer(z, update=True, generator=g)
    assert ((out.codes >= 0) & (out.codes < codebook)).all()
    vectors = ch.code_vectors(out.codes)
    assert torch.allclose(vectors, ch.quantizer.lookup(out.codes))
    masked = torch.full_like(out.codes, ch.mask_id)
    assert torch.allclose(ch.code_vectors(masked), ch.mask.vector.expand_as(vectors))
