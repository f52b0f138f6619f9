from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from ladd_core.numerics import NonFiniteError, adjust_log_probs, check_finite, sample_categorical


def test_sample_categorical_matches_probabilities():
    p = torch.tensor([0.5, 0.0, 0.3, 0.2])
    g = torch.Generator().manual_seed(0)
    draws = sample_categorical(p.expand(20000, 4), g)
    counts = torch.bincount(draws, minlength=4).double()
    assert counts[1] == 0, "a zero-probability class is never drawn"
    keep = p > 0
    assert chisquare(counts[keep], (p[keep] * 20000).double()).pvalue > 1e-3


def test_sample_categorical_tiny_probabilities_survive_float64():
    # a class of mass 1e-9 must be drawable in principle and rows must not collapse in float64
    p = torch.tensor([[1.0 - 1e-9, 1e-9]], dtype=torch.float64)
    draws = sample_categorical(p.expand(1000, 2), torch.Generator().manual_seed(1))
    assert draws.max() <= 1 and draws.min() >= 0


def test_sample_categorical_rejects_bad_rows():
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.zeros(2, 3))
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.tensor([[float("inf"), 1.0]]))
    with pytest.raises(NonFiniteError):
        sample_categorical(torch.tensor([[0.5, 0.5], [-1.0, 0.0]]))  # clamped to 0: a row with no mass


def test_temperature_and_top_p():
    lp = torch.log_softmax(torch.tensor([[2.0, 1.0, 0.0, -1.0]]), -1)
    assert adjust_log_probs(lp) is lp
    hot = adjust_log_probs(lp, temperature=2.0).exp()
    assert torch.allclose(hot, torch.softmax(lp.double() / 2.0, -1))
    cold = adjust_log_probs(lp, temperature=0.1).exp()
    assert cold[0, 0] > 0.99
    p = lp.exp()[0]
    nucleus = adjust_log_probs(lp, top_p=float(p[0] + p[1] - 1e-6)).exp()[0]
    assert (nucleus[2:] == 0).all() and torch.isclose(nucleus.sum(), torch.tensor(1.0, dtype=torch.float64))
    top1 = adjust_log_probs(lp, top_p=1e-9).exp()[0]
    assert top1[0] == 1.0, "the top class is always kept"
    with pytest.raises(ValueError):
        adjust_log_probs(lp, temperature=0.0)


def test_check_finite():
    check_finite(torch.ones(3), "x")
    with pytest.raises(NonFiniteError, match="logits has 1 non-finite"):
        check_finite(torch.tensor([1.0, float("inf")]), "logits")


def test_check_finite_does_not_mistake_a_large_sum_for_an_overflow():
    big = torch.full((1000,), torch.finfo(torch.float32).max)  # float32 sum overflows; the float64 sum does not
    check_finite(big, "x")
    check_finite(torch.full((10,), torch.finfo(torch.float64).max, dtype=torch.float64), "x")
    for bad in (float("nan"), float("-inf")):
        for dtype in (torch.float32, torch.bfloat16, torch.float64):
            x = torch.ones(5, dtype=dtype)
            x[3] = bad
            with pytest.raises(NonFiniteError, match="1 non-finite"):
                check_finite(x, "x")
