"""The token objectives: ``masked-mean`` estimates the bound that ``nelbo`` estimates, with less variance."""

from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_component
from ladd_core.config.experiment import validate_config

V, L = 7, 32


def _parts(components, objective: str, schedule: str = "linear"):
    cfg = validate_config(
        {
            "objective": {"name": objective},
            "model": {"token_process": {"name": "masked", "schedule": {"name": schedule}}},
        },
        components,
    )
    process = build_component(components, "token_process", cfg.model.token_process, vocab_size=V)
    return process, build_component(components, "objective", cfg.objective)


def _losses(components, objective: str, t_value: float, schedule: str = "linear", rows: int = 4000, seed: int = 0):
    """Per-row losses of ``objective`` on fixed random predictions, every row at time ``t_value``."""
    process, obj = _parts(components, objective, schedule)
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, V, (rows, L), generator=g)
    logits = torch.randn(rows, L, V + 1, generator=g) * 2.0  # a fixed, imperfect denoiser
    t = torch.full((rows,), t_value)
    mask = torch.ones(rows, L, dtype=torch.bool)
    x_t = process.forward_sample(x0, t, mask, g).x_t
    out = obj(process, process.log_probs(logits, x_t), x0, x_t, t, mask)
    return out.loss.double(), (out.nelbo / out.num_tokens).double()


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("t_value", [0.01, 0.3, 0.8])
def test_masked_mean_estimates_the_per_token_bound(components, schedule, t_value):
    """Its mean equals the NELBO's per-token mean (both estimate ``-alpha'(t) E[nll]``), within 4 standard errors.

    At ``t = 0.01`` three rows in four have nothing masked: without the ``1 - alpha^n`` correction the mean
    would be a quarter of the bound's.
    """
    loss, nelbo = _losses(components, "masked-mean", t_value, schedule)
    se = (loss.var() / loss.numel() + nelbo.var() / nelbo.numel()).sqrt()
    assert abs(loss.mean() - nelbo.mean()) < 4 * se, (loss.mean(), nelbo.mean(), se)
    # masked-ce weights the same integrand by (1 - alpha_t) / -alpha'(t) instead
    process, _ = _parts(components, "masked-ce", schedule)
    t = torch.tensor([t_value])
    ratio = float((1 - process.schedule.alpha(t)) / -process.schedule.alpha_derivative(t))
    ce, _ = _losses(components, "masked-ce", t_value, schedule)
    se_ce = (ce.var() / ce.numel() + ratio**2 * loss.var() / loss.numel()).sqrt()
    assert abs(ce.mean() - ratio * loss.mean()) < 4 * se_ce


@pytest.mark.parametrize("t_value", [0.1, 0.2, 0.5])
def test_masked_mean_has_less_variance_than_the_nelbo(components, t_value):
    """``nelbo`` multiplies the drawn count of masked tokens by ``1/t``; ``masked-mean`` divides it out (2-3x less
    variance here, with the same mean)."""
    loss, nelbo = _losses(components, "masked-mean", t_value)
    assert loss.var() * 2 < nelbo.var()


def test_masked_mean_with_nothing_masked_is_zero_not_nan(components):
    process, obj = _parts(components, "masked-mean")
    x0 = torch.randint(0, V, (2, L))
    t = torch.full((2,), 0.5)
    mask = torch.ones(2, L, dtype=torch.bool)
    out = obj(process, process.log_probs(torch.randn(2, L, V + 1), x0), x0, x0, t, mask)  # x_t == x0
    assert torch.equal(out.loss, torch.zeros(2))


def test_masked_mean_refuses_a_process_that_is_not_absorbing(components):
    process, obj = _parts(components, "masked-mean")

    class NotAbsorbing(type(process)):
        capabilities = frozenset()

    other = NotAbsorbing(process.config, process.schedule, V)
    x0 = torch.randint(0, V, (2, L))
    t = torch.full((2,), 0.5)
    mask = torch.ones(2, L, dtype=torch.bool)
    x_t = other.forward_sample(x0, t, mask).x_t
    with pytest.raises(ValueError, match="absorbing"):
        obj(other, other.log_probs(torch.randn(2, L, V + 1), x_t), x0, x_t, t, mask)
