"""The shared absorbing process (``ladd_core.components.absorbing``) over ids of any shape.

Drawn: a registered schedule, an id-tensor shape (tokens ``(B, L)``, codes ``(B, K)``, bits ``(B, K, b)``),
a class count, times ``s < t`` and seeds.  Statistical checks use a 6-sigma binomial tolerance.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ladd_core.components.absorbing import (
    NEG,
    absorb,
    dense_categorical,
    finalize,
    posterior_step,
    reveal_probability,
    softmax_categorical,
    sparse_categorical,
    subs_log_probs,
)
from ladd_core.numerics import NonFiniteError
from ladd_core.testing.strategies import generator_from, seeds
from tests.properties._schedules import COMPS, SCHEDULES

N = 20_000


def _schedule(name: str):
    cls = COMPS.get("schedule", name)
    return cls(cls.Config())


shapes = st.sampled_from([(3, 7), (2, 4), (2, 3, 5), (1, 1)])
times = st.tuples(st.floats(0.01, 1.0), st.floats(0.0, 0.99)).filter(lambda ts: ts[1] < ts[0])


@st.composite
def states(draw: st.DrawFn):
    """``(state, log_probs, mask_id, generator seed)``: ids in ``0..C`` (``C`` = mask) and normalised log-probs."""
    shape = draw(shapes)
    c = draw(st.integers(2, 6))
    seed = draw(seeds())
    g = generator_from(seed)
    state = torch.randint(0, c + 1, shape, generator=g)
    lp = torch.log_softmax(torch.randn((*shape, c), generator=g) * 3, dim=-1).clamp_min(NEG)
    return state, lp, c, seed


def close(frac: float, p: float, n: int) -> bool:
    return abs(frac - p) <= 6 * (p * (1 - p) / n) ** 0.5 + 1e-12


@given(states())
def test_subs_rows_are_distributions_and_dirac_at_revealed(case):
    state, lp, mask_id, _ = case
    subs = subs_log_probs(lp, state, mask_id)
    assert torch.allclose(subs.double().exp().sum(-1), torch.ones(state.shape, dtype=torch.float64), atol=1e-5)
    revealed = state != mask_id
    assert torch.equal(subs.argmax(-1)[revealed], state[revealed])
    assert torch.equal(subs[~revealed], lp[~revealed])


@given(st.sampled_from(SCHEDULES), times, shapes)
def test_reveal_probability_is_the_posterior(name, ts, shape):
    """Stay-masked probability ``1 - p_reveal`` is ``(1 - a_s) / (1 - a_t)``, the posterior of the forward marginals."""
    sched = _schedule(name)
    t = torch.full((shape[0],), ts[0], dtype=torch.float64)
    s = torch.full((shape[0],), ts[1], dtype=torch.float64)
    p = reveal_probability(sched, t, s, len(shape))
    assert p.shape == (shape[0], *([1] * (len(shape) - 1))) and p.dtype == torch.float64
    assert ((p >= 0) & (p <= 1)).all()
    a_t, a_s = sched.alpha(t).double(), sched.alpha(s).double()
    stay = (1 - a_s) / (1 - a_t)
    ok = 1 - a_t > 1e-12
    assert torch.allclose((1 - p.flatten())[ok], stay[ok].clamp(0, 1), atol=1e-9)


@given(states(), times, st.sampled_from(SCHEDULES), st.booleans())
def test_posterior_step_never_changes_revealed_ids(case, ts, name, dense):
    state, lp, mask_id, seed = case
    sched = _schedule(name)
    t = torch.full((state.shape[0],), ts[0])
    s = torch.full((state.shape[0],), ts[1])
    g = generator_from(seed)
    draw = (dense_categorical if dense else sparse_categorical)(subs_log_probs(lp, state, mask_id), g)
    new = posterior_step(state, mask_id, reveal_probability(sched, t, s, state.dim()), draw, g)
    revealed = state != mask_id
    assert torch.equal(new[revealed], state[revealed])
    assert ((new >= 0) & (new <= mask_id)).all()
    done = finalize(new, mask_id, draw)
    assert not (done == mask_id).any(), "finalisation reveals every id"
    assert torch.equal(done[new != mask_id], new[new != mask_id])


@given(st.sampled_from(SCHEDULES), st.floats(0.0, 1.0), seeds(), st.sampled_from([(N,), (100, 200), (50, 20, 20)]))
def test_masked_fraction_matches_the_schedule(name, t, seed, shape):
    sched = _schedule(name)
    alpha = sched.alpha(torch.full((shape[0],), t))
    x0 = torch.zeros(shape, dtype=torch.long)
    x_t, masked = absorb(x0, alpha, 9, generator=generator_from(seed))
    assert torch.equal(masked, x_t == 9)
    assert close(float(masked.double().mean()), float(1 - alpha[0]), masked.numel())


def test_absorb_respects_maskable():
    x0 = torch.arange(12).reshape(2, 6)
    maskable = torch.ones(2, 6, dtype=torch.bool)
    maskable[:, -2:] = False
    x_t, masked = absorb(x0, torch.zeros(2), 99, maskable)  # alpha 0: every maskable id is masked
    assert masked[:, :-2].all() and not masked[:, -2:].any()
    assert torch.equal(x_t[:, -2:], x0[:, -2:]) and (x_t[:, :-2] == 99).all()


@given(st.sampled_from(SCHEDULES), times, seeds())
def test_reveal_frequency_and_revealed_values_follow_the_posterior(name, ts, seed):
    """Masked ids revealed w.p. ``p_reveal``; a revealed id is drawn from ``p(x_0 | x_t)``."""
    sched = _schedule(name)
    state = torch.full((1, N), 3)
    lp = torch.tensor([0.2, 0.5, 0.3]).log().expand(1, N, 3)
    t, s = torch.tensor([ts[0]]), torch.tensor([ts[1]])
    p = float(reveal_probability(sched, t, s))
    g = generator_from(seed)
    new = posterior_step(state, 3, reveal_probability(sched, t, s), sparse_categorical(lp, g), g)
    revealed = new != 3
    assert close(float(revealed.double().mean()), p, N)
    n = int(revealed.sum())
    if n > 200:
        assert close(float((new[revealed] == 1).double().mean()), 0.5, n)


def test_sparse_and_dense_draws_agree_in_distribution():
    lp = torch.tensor([0.1, 0.6, 0.3]).log().expand(1, N, 3)
    state = torch.full((1, N), 3)
    for make in (sparse_categorical, dense_categorical):
        out = finalize(state, 3, make(lp, torch.Generator().manual_seed(0)))
        assert close(float((out == 1).double().mean()), 0.6, N)


def test_softmax_categorical_draws_the_softmax_where_asked_and_rejects_nan():
    logits = torch.tensor([[0.0, 1.0, -1.0, 2.0]]).expand(40000, 4)  # (n, C)
    state = torch.full((40000,), 9)
    where = torch.arange(40000) % 4 != 0
    out = softmax_categorical(logits, generator_from(0))(state, where)
    assert (out[~where] == 9).all() and (out[where] < 4).all()
    freq = torch.bincount(out[where], minlength=4).double() / int(where.sum())
    assert torch.allclose(freq, torch.softmax(logits[0].double(), -1), atol=0.01)
    bad = logits.clone()
    bad[5, 2] = float("nan")
    with pytest.raises(NonFiniteError):
        softmax_categorical(bad, generator_from(0))(state, where)
