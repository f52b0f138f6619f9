from __future__ import annotations

import pytest
import torch

from ladd_core.build import build_component

NAMES = ["linear", "loglinear", "cosine", "sqrt", "polynomial"]


def _schedule(components, name, **kw):
    cls = components.get("schedule", name)
    return build_component(components, "schedule", cls.Config(**kw))


@pytest.mark.parametrize("name", NAMES)
def test_boundaries_monotone_derivative(components, name):
    s = _schedule(components, name)
    eps = s.config.eps
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    a = s.alpha(t)
    assert a[0] == pytest.approx(1 - eps, abs=1e-9) or a[0] == pytest.approx(1.0)
    assert a[-1] == pytest.approx(eps, abs=1e-9)
    assert (a[1:] <= a[:-1] + 1e-15).all(), "alpha must be non-increasing"
    inner = t[5:-5]
    h = 1e-6
    fd = (s.alpha(inner + h) - s.alpha(inner - h)) / (2 * h)
    assert torch.allclose(s.alpha_derivative(inner), fd, rtol=1e-4, atol=1e-6)
    w = s.masked_elbo_weight(torch.linspace(1e-4, 1, 100, dtype=torch.float64))
    assert torch.isfinite(w).all() and (w >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_inverse_round_trip(components, name):
    s = _schedule(components, name)
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    assert torch.allclose(s.inverse(s.alpha(t)), t, atol=1e-6)


def test_linear_weight_is_one_over_t(components):
    s = _schedule(components, "linear", eps=0.0)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(s.masked_elbo_weight(t), 1 / t)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), float("-inf")])
def test_out_of_domain_raises(components, bad):
    s = _schedule(components, "linear")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        s.alpha(torch.tensor([0.5, bad]))
