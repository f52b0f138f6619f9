"""The ``gaussian`` latent channel (Co-LADD): KL terms, posterior/marginal consistency, DDIM with the true ``y0``.

The channel is built through the registry (tiny ``transformer`` encoder) with a drawn VP schedule;
its VP algebra is reached through ``channel.vp`` and its sampling API.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ladd_core.testing.exact import tanh_sinh
from ladd_core.testing.strategies import configs, generator_from, latent_dims, seeds
from ladd_core.testing.toys import build_kind, build_tiny_model, config_model, jiggle, tiny_config
from tests.properties._schedules import COMPS, SCHEDULES

pytestmark = pytest.mark.skipif("gaussian" not in COMPS.registry("latent"), reason="no gaussian latent registered")
F64 = torch.float64


@st.composite
def channels(draw: st.DrawFn, **fields):
    """A ``gaussian`` channel with a drawn schedule and slot width (``fields`` fix channel settings)."""
    name = draw(st.sampled_from(SCHEDULES))
    cls = COMPS.get("schedule", name).Config
    fixed = {"offset": 0.0} if name == "cosine" else {}
    sched = draw(
        configs(cls, fixed={**fixed, "eps": draw(st.floats(1e-4, 0.05))}, model=config_model(COMPS, "schedule", name))
    )
    d = draw(latent_dims())
    data = tiny_config(COMPS, "latent", "gaussian", {"schedule": sched.model_dump(mode="json"), **fields})
    data["encoder"]["dim"] = d
    return build_kind(COMPS, "latent", data, vocab_size=3, seq_len=6)


def times(lo: float = 1e-3):
    return st.tuples(st.floats(lo, 1.0), st.floats(lo, 1.0)).map(sorted).filter(lambda p: p[1] - p[0] > 1e-6)


def t_(v: float, b: int = 1) -> torch.Tensor:
    return torch.full((b,), v, dtype=F64)


@given(channels(), times(), seeds())
def test_posterior_is_consistent_with_the_forward_marginals(ch, st_, seed):
    """If ``y_t ~ q(y_t | y0)`` and ``y_s ~ q(y_s | y_t, y0)`` then ``y_s ~ q(y_s | y0)`` (mean and variance)."""
    s, t = st_
    vp = ch.vp
    y0 = torch.randn(1, 2, ch.encoder.dim, generator=generator_from(seed), dtype=F64)
    zero = torch.zeros_like(y0)
    c_t = vp.posterior(torch.ones_like(y0), zero, t_(t), t_(s))[0]  # coefficient of y_t
    mean0, var = vp.posterior(zero, y0, t_(t), t_(s))  # c_0 * y0, posterior variance
    (a_t, s_t), (a_s, s_s) = vp.coeffs(t_(t)), vp.coeffs(t_(s))
    assert torch.allclose(c_t * a_t * y0 + mean0, a_s * y0, rtol=1e-9, atol=1e-12), "E[y_s] != abar_s y0"
    assert torch.allclose(c_t[..., 0, 0] ** 2 * s_t**2 + var, s_s**2, rtol=1e-9, atol=1e-12), "Var[y_s] != sbar_s^2"
    assert (var >= 0).all()


@given(channels(latent_step="ancestral"), times(lo=0.05), seeds())
def test_ancestral_latent_step_with_the_true_y0_samples_the_marginal(ch, st_, seed):
    s, t = st_
    n, d = 20_000, ch.encoder.dim
    g = generator_from(seed)
    y0 = torch.randn(1, 1, d, generator=g, dtype=F64).expand(n, -1, -1)
    a_t, s_t = ch.vp.coeffs(t_(t))
    y_t = a_t * y0 + s_t * torch.randn(y0.shape, generator=g, dtype=F64)
    y_s = ch.latent_step(y_t, y0.float(), t_(t, n), t_(s, n), g)  # x0-prediction = the true y0
    a_s, s_s = ch.vp.coeffs(t_(s))
    z = (y_s - a_s * y0) / s_s  # should be N(0, I)
    assert abs(float(z.mean())) < 6 / (n * d) ** 0.5
    assert abs(float(z.var()) - 1) < 6 * (2 / (n * d)) ** 0.5


@given(channels(), st.integers(1, 40), st.floats(1e-5, 1e-2), seeds(), st.sampled_from(["x0", "eps"]))
def test_ddim_with_the_true_y0_stays_on_its_forward_path_and_recovers_it(drawn, steps, t_final, seed, prediction):
    ch = build_kind(
        COMPS, "latent", {**drawn.config.model_dump(mode="json"), "prediction": prediction, "latent_step": "ddim"},
        vocab_size=3, seq_len=6,
    )  # fmt: skip
    g = generator_from(seed)
    b = 3
    state = ch.sample_prior(b, torch.device("cpu"), g)  # y_1 ~ N(0, I)
    y0 = torch.randn(state.shape, generator=g, dtype=F64)
    a1, s1 = ch.vp.coeffs(t_(1.0))
    eps = (state - a1 * y0) / s1  # the noise direction DDIM must keep
    grid = torch.linspace(1.0, t_final, steps + 1, dtype=F64)
    for i in range(steps):
        t, s = grid[i].expand(b), grid[i + 1].expand(b)
        at, st_ = ch.vp.coeffs(t)
        truth = y0 if prediction == "x0" else (state - at[:, None, None] * y0) / st_[:, None, None]
        state = ch.latent_step(state, truth, t, s, g)
        a_s, s_s = ch.vp.coeffs(s)
        want = a_s[:, None, None] * y0 + s_s[:, None, None] * eps
        assert torch.allclose(state, want, rtol=1e-6, atol=1e-6), f"left the forward path at step {i}"
    at, st_ = ch.vp.coeffs(grid[-1].expand(b))
    truth = y0 if prediction == "x0" else (state - at[:, None, None] * y0) / st_[:, None, None]
    final = ch.latent_finalize(state, truth, grid[-1].expand(b), g)
    assert torch.allclose(final, y0, atol=1e-5), "DDIM did not recover y0"


@given(channels(), st.integers(1, 64), st.floats(1e-4, 0.1), seeds())
def test_discrete_kl_terms_are_nonnegative_and_telescope_to_the_continuous_term(ch, steps, t_lo, seed):
    """``sum_i KL(q(y_s|y_t,y0) || q(y_s|y_t,yhat))`` over any grid on ``[t_lo, 1]`` equals
    ``0.5 |y0 - yhat|^2 (SNR(t_lo) - SNR(1)) = 0.5 |y0 - yhat|^2 int -SNR'(t) dt`` (x0-parameterisation)."""
    vp = ch.vp
    g = generator_from(seed)
    y0, yhat = torch.randn(2, 1, 3, generator=g, dtype=F64)
    y_t = torch.randn(1, 3, generator=g, dtype=F64)
    grid = torch.linspace(1.0, t_lo, steps + 1, dtype=F64)
    total = torch.zeros((), dtype=F64)
    for i in range(steps):
        t, s = t_(float(grid[i])), t_(float(grid[i + 1]))
        mq, var = vp.posterior(y_t[None], y0[None], t, s)
        mp, _ = vp.posterior(y_t[None], yhat[None], t, s)
        # a flat schedule segment gives var = 0 and equal means: both steps are the same Dirac (KL 0)
        kl = torch.where(var > 0, ((mq - mp) ** 2).sum() / (2 * var.clamp_min(1e-300)), torch.zeros_like(var))
        assert kl >= 0
        total = total + kl.sum()
    sq = ((y0 - yhat) ** 2).sum()
    snr = vp.snr(torch.tensor([t_lo, 1.0], dtype=F64))
    assert torch.isclose(total, 0.5 * sq * (snr[0] - snr[1]), rtol=1e-7)
    u, _, w = tanh_sinh()
    tq = t_lo + (1 - t_lo) * u  # quadrature of the channel's continuous-time weight -SNR'(t)
    integral = (1 - t_lo) * (w * -vp.snr_derivative(tq)).sum()
    assert torch.isclose(integral, snr[0] - snr[1], rtol=1e-6), "snr_derivative does not integrate to the SNR"


@given(seeds(), st.sampled_from(["joint", "sequential"]))
def test_reported_latent_bound_terms(seed, mode):
    """``variance = "fixed"`` in eval mode: the diffusion and prior KL terms are ``>= 0`` and the reported
    ``latent_nelbo`` is their sum with the decoding term."""
    latent = tiny_config(COMPS, "latent", "gaussian", {"variance": "fixed", "p_cfg": 0.0, "p_r_max": 0.0})
    tm = build_tiny_model(COMPS, latent, with_denoiser=mode == "sequential", seed=seed % 1000)
    jiggle(tm.model.backbone, seed % 1000)
    if tm.model.latent_denoiser is not None:
        jiggle(tm.model.latent_denoiser, seed % 1000)
    from ladd_core.testing._model_contracts import toy_batch

    out = tm.model.eval().loss(toy_batch(3, 8, 6, seed % 1000), generator_from(seed))
    assert out.latent_nelbo is not None and torch.isfinite(out.latent_nelbo).all()
    logs = out.logs
    assert logs["latent_diffusion"] >= 0 and logs["latent_prior"] >= 0
    total = logs["latent_diffusion"] + logs["latent_prior"] + logs["latent_decode"]
    assert abs(float(out.latent_nelbo.detach().mean()) - total) < 1e-4 * (1 + abs(total))
