"""``latent-gap`` on a toy whose answer is known: a perfect latent generator gives no gap, a broken one a clear gap.

The model is a tiny sequential Co-LADD whose encoder is the :class:`OracleEncoder` (the latent determines x_0) and
whose token network learnt to read it (:func:`check_latent_plumbing`); the data is a two-class ``mixture`` of
length 4 with a low entropy (about 0.54 bits/token, uniform sequences score about 1.6), so the latent matters.
"""

from __future__ import annotations

import pytest
import torch

import ladd_metrics.gap as gap_module
from ladd_core.components.latent_protocols import SequentialSampling, as_protocol
from ladd_core.components.metrics import EvalContext
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_core.testing.plumbing import check_latent_plumbing
from ladd_core.testing.toys import TinyModel, build_tiny_model
from ladd_data.mixture import Mixture
from ladd_metrics.gap import LatentGap, encoder_condition

ENC = {"name": "transformer", "num_slots": 2, "dim": 4, "hidden": 8, "layers": 1, "heads": 2}
BB = {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}
DEN = {"name": "latent-dit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8}


@pytest.fixture(scope="module")
def data() -> Mixture:
    return Mixture(Mixture.Config(seq_len=4, classes=2, waves=2, profile_seed=5, val_size=2048))


@pytest.fixture(scope="module")
def oracle(components) -> TinyModel:
    """Sequential Co-LADD reading the oracle latent; its latent denoiser is never trained (a broken generator)."""
    tm = build_tiny_model(
        components,
        {"name": "gaussian", "encoder": ENC},
        vocab_size=2,
        seq_len=4,
        with_denoiser=True,
        backbone=BB,
        latent_denoiser=DEN,
    )
    torch.manual_seed(0)
    res = check_latent_plumbing(tm.model, steps=150, lr=1e-2)  # stage 1 only trains what reads the latent
    assert res.passed, res
    return tm


def _metric(**fields: object) -> LatentGap:
    return LatentGap(LatentGap.Config(**{"sequences": 2048, "batch_size": 512, "latent_steps": 4, **fields}))


def test_registered_opt_in(components) -> None:
    cls = components.get("metric", "latent-gap")
    assert cls is LatentGap and cls.default is False
    assert cls.requires == {"model", "known_generator"}


def test_encoder_condition_is_the_clean_encoder_mean(oracle, data) -> None:
    """For Co-LADD the probe at t_y = 0 is ``token_condition(mu)``: the latent a perfect generator would give."""
    model = oracle.model
    x0 = data.sample(8, seed=3)[0]
    attn = torch.ones_like(x0, dtype=torch.bool)
    with torch.no_grad():
        lat, t_y = encoder_condition(model, x0, attn, torch.Generator().manual_seed(0))
        want, want_t = as_protocol(model.latent, SequentialSampling).token_condition(model.latent.encoder(x0, attn))
    assert torch.equal(lat, want) and torch.equal(t_y, want_t) and not t_y.any()


def test_perfect_latent_generator_gives_no_gap(oracle, data, monkeypatch) -> None:
    """The latent sampler replaced by the encoder latent of fresh draws from the generator: same distribution."""
    draws = iter(range(100, 200))

    def perfect(model, tokens, latent_steps, t_final, generator, *, condition=None):
        x = data.sample(tokens.shape[0], seed=next(draws))[0]  # (B, L) fresh sequences of the source
        return model.latent.encoder(x, torch.ones_like(x, dtype=torch.bool)), latent_steps + 1  # mu (B, K, d)

    monkeypatch.setattr(gap_module, "latent_first", perfect)
    out = _metric(steps=[1, 2]).compute(EvalContext(data, oracle.model, seed=0))
    for n in (1, 2):
        g = out[f"latent-gap-n{n}"]
        assert g.stderr is not None and 0 < g.stderr < 0.05
        assert abs(g.value) < 3 * g.stderr, (n, g)


def test_broken_latent_generator_gives_a_clear_gap(oracle, data) -> None:
    """The untrained latent denoiser samples latents the token network cannot use: the gap is large."""
    out = _metric(steps=[1]).compute(EvalContext(data, oracle.model, seed=0))
    g = out["latent-gap-n1"]
    assert g.value > 0.3 and g.value > 10 * g.stderr, out
    assert out["latent-gap-sampled-n1"].value == pytest.approx(out["latent-gap-encoder-n1"].value + g.value)
    # the encoder's latent is informative (uniform sequences score about 1.61, the data 0.54), though the briefly
    # trained token network reads it imperfectly: expressivity is between the two
    assert out["latent-gap-entropy"].value < out["latent-gap-encoder-n1"].value < 1.35, out
    assert "latent-gap-latent-nelbo" not in out  # a deterministic Gaussian encoder has no latent bound


def test_prior_noise_latent_gives_a_clear_gap(oracle, data, monkeypatch) -> None:
    """Latents drawn from the latent prior (pure noise, no chain at all) carry nothing the token network can use."""

    def noise(model, tokens, latent_steps, t_final, generator, *, condition=None):
        return as_protocol(model.latent, SequentialSampling).sample_prior(tokens.shape[0], tokens.device, generator), 0

    monkeypatch.setattr(gap_module, "latent_first", noise)
    g = _metric(steps=[1]).compute(EvalContext(data, oracle.model, seed=0))["latent-gap-n1"]
    assert g.value > 0.3 and g.value > 10 * g.stderr, g


def test_reproducible_for_a_seed(oracle, data) -> None:
    m = _metric(steps=[1], sequences=64)
    a = m.compute(EvalContext(data, oracle.model, seed=1))
    b = m.compute(EvalContext(data, oracle.model, seed=1))
    c = m.compute(EvalContext(data, oracle.model, seed=2))
    assert a == b
    assert a["latent-gap-n1"] != c["latent-gap-n1"]
    assert oracle.model.training  # the metric restores the mode it found


def test_code_channel_reports_the_latent_bound(components, data) -> None:
    """Di-LADD (sequential target): the codes condition the encoder side; the code NELBO is reported."""
    tm = build_tiny_model(
        components,
        {"name": "vq", "encoder": ENC, "codebook_size": 4, "kmeans_iters": 1, "target": "sequential"},
        vocab_size=2,
        seq_len=4,
    )
    assert "sequential" in tm.capabilities
    out = _metric(steps=[1], sequences=32, latent_steps=2).compute(EvalContext(data, tm.model, seed=0))
    assert {"latent-gap-n1", "latent-gap-encoder-n1", "latent-gap-sampled-n1"} <= set(out)
    assert out["latent-gap-latent-nelbo"].value > 0


def test_not_applicable_without_a_latent_chain(components, data) -> None:
    mdlm = build_tiny_model(components, {"name": "none"}, vocab_size=2, seq_len=4)
    with pytest.raises(MetricNotApplicable, match="sequential"):
        _metric().compute(EvalContext(data, mdlm.model, seed=0))
    with pytest.raises(MetricNotApplicable, match="model"):
        _metric().compute(EvalContext(data, None))
