"""The masked token process: forward marginals, and a posterior step that is consistent with them.

Times are float64 throughout (references and the process see the same numbers, subnormals included).

Every statistical check uses ``n`` independent positions and a 6-sigma binomial tolerance
(false-alarm rate below 1e-8 per check).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ladd_core.testing.strategies import generator_from, seeds, vocab_sizes
from ladd_core.testing.toys import build_kind
from tests.properties._schedules import COMPS, schedule_configs

N = 20_000  # positions per statistical check


@st.composite
def processes(draw: st.DrawFn):
    """A ``masked`` process with a drawn vocabulary and a drawn registered schedule."""
    sched = draw(schedule_configs(fixed={"offset": 0.0}))
    v = draw(vocab_sizes())
    return build_kind(
        COMPS, "token_process", {"name": "masked", "schedule": sched.model_dump(mode="json")}, vocab_size=v
    )


def close(frac: float, p: float, n: int) -> bool:
    return abs(frac - p) <= 6 * (p * (1 - p) / n) ** 0.5 + 1e-12


@given(processes(), st.floats(0.0, 1.0), seeds())
def test_forward_marginals(process, t, seed):
    g = generator_from(seed)
    x0 = torch.randint(0, process.vocab_size, (1, N), generator=g)
    maskable = torch.rand(1, N, generator=g) < 0.8  # the rest is padding
    out = process.forward_sample(x0, torch.tensor([t], dtype=torch.float64), maskable, g)
    p_mask = 1 - float(process.schedule.alpha(torch.tensor([t], dtype=torch.float64)))
    assert close(float(out.noised[maskable].double().mean()), p_mask, int(maskable.sum()))
    assert not out.noised[~maskable].any(), "padding was noised"
    assert torch.equal(out.x_t[~out.noised], x0[~out.noised]) and (out.x_t[out.noised] == process.mask_id).all()


def _after_step(process, t: float, s: float, seed: int, denoiser: str):
    g = generator_from(seed)
    x0 = torch.randint(0, process.vocab_size, (1, N), generator=g)
    tt, ss = torch.tensor([t], dtype=torch.float64), torch.tensor([s], dtype=torch.float64)
    x_t = process.forward_sample(x0, tt, torch.ones_like(x0, dtype=torch.bool), g).x_t
    c = process.num_classes
    if denoiser == "true":  # a Dirac on x0: the reverse step is then the exact forward posterior q(x_s | x_t, x0)
        logits = torch.full((1, N, c), -1e9).scatter(-1, x0[..., None], 0.0)
    else:
        logits = 3 * torch.randn(1, N, c, generator=g)
    lp = process.log_probs(logits, x_t)
    x_s = process.reverse_step(x_t, lp, tt, ss, g)
    return x0, x_t, x_s


@given(processes(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), seeds(), st.sampled_from(["true", "random"]))
def test_posterior_step_keeps_unmasked_tokens_and_never_unreveals(process, t1, t2, seed, denoiser):
    s, t = sorted((t1, t2))
    _, x_t, x_s = _after_step(process, t, s, seed, denoiser)
    masked_t, masked_s = x_t == process.mask_id, x_s == process.mask_id
    assert torch.equal(x_s[~masked_t], x_t[~masked_t]), "an unmasked token changed"
    assert not (masked_s & ~masked_t).any(), "a revealed token was masked again"
    assert (x_s[masked_t & ~masked_s] < process.vocab_size).all(), "revealed an id outside the data vocabulary"


@given(processes(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), seeds())
def test_posterior_step_is_consistent_with_the_forward_marginals(process, t1, t2, seed):
    """``x_t ~ q(x_t | x0)`` then ``x_s ~ q(x_s | x_t, x0)`` (true denoiser) gives ``x_s ~ q(x_s | x0)``."""
    s, t = sorted((t1, t2))
    x0, x_t, x_s = _after_step(process, t, s, seed, "true")
    alpha = process.schedule.alpha(torch.tensor([s, t], dtype=torch.float64))
    assert close(float((x_s == process.mask_id).double().mean()), 1 - float(alpha[0]), N)
    revealed = x_s != process.mask_id
    assert torch.equal(x_s[revealed], x0[revealed]), "the true denoiser revealed a wrong token"
    masked_t = x_t == process.mask_id
    if int(masked_t.sum()) > 100 and float(alpha[1]) < 1:
        reveal = (float(alpha[0]) - float(alpha[1])) / (1 - float(alpha[1]))
        got = float((revealed & masked_t).sum()) / float(masked_t.sum())
        assert close(got, min(max(reveal, 0.0), 1.0), int(masked_t.sum())), f"reveal rate {got}, expected {reveal}"


@given(processes(), seeds())
def test_finalize_reveals_everything_from_the_denoiser(process, seed):
    g = generator_from(seed)
    x_t = process.forward_sample(
        torch.randint(0, process.vocab_size, (1, N), generator=g),
        torch.tensor([0.7]),
        torch.ones(1, N, dtype=torch.bool),
        g,
    ).x_t
    logits = torch.zeros(1, N, process.num_classes)
    logits[..., 0] = 1.0  # p(0) = e / (e + V - 1) at masked positions
    x = process.finalize(x_t, process.log_probs(logits, x_t), g)
    masked = x_t == process.mask_id
    assert not (x == process.mask_id).any() and torch.equal(x[~masked], x_t[~masked])
    p0 = torch.e / (torch.e + process.vocab_size - 1)
    assert close(float((x[masked] == 0).double().mean()), p0, int(masked.sum()))


@pytest.mark.parametrize("vocab", [0, -1])
def test_an_empty_vocabulary_is_rejected(vocab):
    with pytest.raises(ValueError):
        build_kind(COMPS, "token_process", {"name": "masked"}, vocab_size=vocab)
