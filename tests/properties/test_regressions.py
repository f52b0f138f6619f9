"""Regressions found by the property suite (cosine normaliser, inverse slack, tiny temperature, inf in configs).

They were pinned as expected failures until fixed; they now guard against the bugs coming back.
"""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ladd_core.numerics import adjust_log_probs
from ladd_core.plugins import get_components
from ladd_core.testing.toys import build_kind, validate_component

COMPS = get_components()
F64 = torch.float64


@pytest.mark.parametrize("offset", [0.008, 0.5])
def test_cosine_alpha_at_zero_is_exactly_one_minus_eps(offset):
    sched = build_kind(COMPS, "schedule", {"name": "cosine", "eps": 0.0, "offset": offset})
    a0 = float(sched.alpha(torch.zeros(1, dtype=F64)))
    assert a0 <= 1.0 and abs(a0 - 1.0) < 1e-14  # measured: 1 + 2e-11 (offset 0.008), 1 + 1.7e-8 (offset 0.5)


@pytest.mark.parametrize("name", ["linear", "sqrt", "polynomial", "cosine"])
def test_inverse_accepts_alpha_at_the_ends(name):
    for eps in (1e-4, 0.05, 0.3):  # 0.05: alpha(0) = (1 - 2 eps) + eps rounds above 1 - eps
        sched = build_kind(COMPS, "schedule", {"name": name, "eps": eps})
        sched.inverse(sched.alpha(torch.tensor([0.0, 1.0], dtype=F64)))  # raises ValueError for some eps


def test_a_tiny_valid_temperature_does_not_nan():
    lp = torch.log_softmax(torch.tensor([[0.3, 0.1, -2.0]]), -1)
    out = adjust_log_probs(lp, temperature=5e-324)  # valid: SamplerConfig.temperature only needs > 0
    assert torch.isfinite(out.exp().sum(-1)).all() and torch.isclose(out.exp().sum(), torch.ones((), dtype=F64))


def test_infinite_config_values_are_rejected():
    with pytest.raises(ValidationError):
        validate_component(COMPS, "sampler", {"name": "ancestral", "temperature": float("inf")})
