"""Structure: batch-permutation and padding invariance, totals equal to their terms, out-of-domain inputs raise."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ladd_core.build import build_sampler
from ladd_core.kinds import KINDS
from ladd_core.numerics import NonFiniteError, adjust_log_probs, sample_categorical
from ladd_core.plugins import get_components
from ladd_core.testing._model_contracts import toy_batch
from ladd_core.testing.strategies import generator_from, invalid_field_values, seeds, vocab_sizes
from ladd_core.testing.toys import build_tiny_model, config_model, jiggle, tiny_config, validate_component

COMPS = get_components()
OBJECTIVES = COMPS.registry("objective").list()
LATENTS = COMPS.registry("latent").list()


def token_model(objective: str, vocab: int, length: int, seed: int):
    tm = build_tiny_model(COMPS, {"name": "none"}, vocab_size=vocab, seq_len=length, objective=objective, seed=seed)
    jiggle(tm.model.backbone, seed)
    return tm.model.eval()


def per_example(model, x0, x_t, t, mask):
    """Per-example ``(loss, nelbo)`` given fixed noise (``t``, ``x_t``): the deterministic part of a training step."""
    with torch.no_grad():
        logits = model.backbone(x_t, None, t, None, mask).token_logits
        out = model.objective(model.process, model.process.log_probs(logits, x_t), x0, x_t, t, mask)
    return out.loss, out.nelbo


def noised(model, b: int, length: int, vocab: int, seed: int, pad: bool = True):
    g = generator_from(seed)
    x0 = torch.randint(0, vocab, (b, length), generator=g)
    mask = toy_batch(vocab, b, length, seed).attention_mask if pad else torch.ones(b, length, dtype=torch.bool)
    t = model.objective.sample_times(b, torch.device("cpu"), g)
    return x0, model.process.forward_sample(x0, t, mask, g).x_t, t, mask


@given(st.sampled_from(OBJECTIVES), vocab_sizes(), st.integers(2, 6), st.integers(2, 6), seeds(), st.randoms())
def test_per_example_losses_are_batch_permutation_invariant(objective, vocab, length, b, seed, rnd):
    model = token_model(objective, vocab, length, seed % 1000)
    x0, x_t, t, mask = noised(model, b, length, vocab, seed)
    perm = list(range(b))
    rnd.shuffle(perm)
    loss, nelbo = per_example(model, x0, x_t, t, mask)
    loss_p, nelbo_p = per_example(model, x0[perm], x_t[perm], t[perm], mask[perm])
    assert torch.allclose(loss[perm], loss_p, atol=1e-5) and torch.allclose(nelbo[perm], nelbo_p, atol=1e-5)


@given(st.sampled_from(OBJECTIVES), vocab_sizes(), st.integers(1, 5), st.integers(1, 4), seeds())
def test_right_padding_under_the_attention_mask_changes_nothing(objective, vocab, length, extra, seed):
    """Appending ``extra`` junk positions marked as padding leaves every per-example loss unchanged."""
    model = token_model(objective, vocab, length + extra, seed % 1000)
    x0, x_t, t, mask = noised(model, 3, length, vocab, seed, pad=False)
    g = generator_from(seed + 1)
    junk = torch.randint(0, vocab + 1, (3, extra), generator=g)  # mask ids included
    x0_p = torch.cat([x0, junk.clamp_max(vocab - 1)], 1)
    x_t_p = torch.cat([x_t, junk], 1)
    mask_p = torch.cat([mask, torch.zeros(3, extra, dtype=torch.bool)], 1)
    a, b = per_example(model, x0, x_t, t, mask), per_example(model, x0_p, x_t_p, t, mask_p)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)


@pytest.mark.parametrize("latent", LATENTS)
@given(seeds())
def test_reported_totals_equal_the_sum_of_their_terms(latent, seed):
    tm = build_tiny_model(COMPS, tiny_config(COMPS, "latent", latent), seed=seed % 1000)
    jiggle(tm.model.backbone, seed % 1000)
    m = tm.model.train()
    batch = toy_batch(3, 4, 6, seed % 1000)
    out = m.loss(batch, generator_from(seed))
    logs = out.logs
    assert math.isclose(float(out.loss.detach()), logs["token_loss"] + logs["latent_loss"], rel_tol=1e-5, abs_tol=1e-6)
    if {"code_loss", "vq_loss"} <= set(logs):
        assert math.isclose(logs["latent_loss"], logs["code_loss"] + logs["vq_loss"], rel_tol=1e-5, abs_tol=1e-6)
    bpt, n = m.eval().nelbo_bits_per_token(batch, generator_from(seed))
    again = m.loss(batch, generator_from(seed))
    assert n == float(batch.attention_mask.sum())
    assert math.isclose(bpt, float(again.token_nelbo.detach().sum()) / n / math.log(2), rel_tol=1e-6)


COMPONENTS = [(k, n) for k, kind in KINDS.items() if kind.is_component for n in COMPS.registry(k).list()]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[f"{k}:{n}" for k, n in COMPONENTS])
def test_out_of_domain_config_values_raise(kind, name):
    model = config_model(COMPS, kind, name)
    for field, bad in invalid_field_values(COMPS.get(kind, name).Config):
        with pytest.raises(ValidationError):
            model.model_validate({"name": name, field: bad})


def test_out_of_domain_numerics_raise_instead_of_returning_nan():
    g = generator_from(0)
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.tensor([[0.5, float("nan")]]), g)
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.tensor([[0.0, 0.0]]), g)
    for temperature, top_p in ((0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (1.0, 1.5)):
        with pytest.raises(ValueError):
            adjust_log_probs(torch.zeros(1, 2), temperature, top_p)
    model = token_model("nelbo", 3, 4, 0)
    with pytest.raises(ValueError):
        model.process.elbo_weight(torch.tensor([1.5]))


@pytest.mark.parametrize("sampler", COMPS.registry("sampler").list())
def test_samplers_raise_on_a_nan_network_instead_of_sampling(sampler):
    scls = COMPS.get("sampler", sampler)
    for latent in LATENTS:
        for with_den in (False, True):
            tm = build_tiny_model(COMPS, tiny_config(COMPS, "latent", latent), with_denoiser=with_den)
            if scls.requires <= tm.capabilities:
                break
        else:
            continue
        break
    else:
        pytest.skip(f"no latent gives {sorted(scls.requires)}")
    for p in tm.model.backbone.parameters():
        p.data.fill_(float("nan"))
    cfg = validate_component(COMPS, "sampler", {"name": sampler, "steps": 2})
    with pytest.raises(NonFiniteError):
        build_sampler(COMPS, cfg).sample(tm.model.eval(), 2, generator=generator_from(0))
