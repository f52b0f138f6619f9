"""Schedules (every registered one, drawn configs and times): boundaries, monotonicity, weights, inverses."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ladd_core.build import build_component
from ladd_core.testing.strategies import configs
from ladd_core.testing.toys import config_model
from tests.properties._schedules import COMPS, SCHEDULES

KNOWN: dict[str, dict[str, float]] = {}  # fields held fixed per schedule (none since the cosine fix)


def schedule_of(name: str):
    cls = COMPS.get("schedule", name).Config
    return configs(cls, fixed=KNOWN.get(name), model=config_model(COMPS, "schedule", name)).map(
        lambda cfg: build_component(COMPS, "schedule", cfg)
    )


UNIT = st.floats(0.0, 1.0)


@pytest.mark.parametrize("name", SCHEDULES)
@given(data=st.data())
def test_boundary_values(name, data):
    sched = data.draw(schedule_of(name))
    eps = sched.config.eps
    a = sched.alpha(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert 1 - eps - 1e-12 <= a[0] <= 1 and 0 <= a[1] <= eps + 1e-12, f"alpha(0), alpha(1) = {a.tolist()}"


@pytest.mark.parametrize("name", SCHEDULES)
@given(data=st.data(), t1=UNIT, t2=UNIT)
def test_alpha_is_monotone_and_in_the_unit_interval(name, data, t1, t2):
    sched = data.draw(schedule_of(name))
    lo, hi = sorted((t1, t2))
    a = sched.alpha(torch.tensor([lo, hi], dtype=torch.float64))
    assert 0 <= a[1] <= a[0] + 1e-15 <= 1 + 1e-15


@pytest.mark.parametrize("name", SCHEDULES)
@given(data=st.data(), t=st.floats(1e-4, 1.0), t_min=st.floats(1e-6, 1e-2))
def test_masked_elbo_weight_is_finite_on_eps_to_one(name, data, t, t_min):
    sched = data.draw(schedule_of(name))
    w = sched.masked_elbo_weight(torch.tensor([t_min, t, 1.0], dtype=torch.float64))
    assert torch.isfinite(w).all() and (w >= -1e-12).all(), w.tolist()
    deriv = sched.alpha_derivative(torch.tensor([t], dtype=torch.float64))
    assert torch.isfinite(deriv).all() and deriv <= 1e-15


@pytest.mark.parametrize("name", SCHEDULES)
@given(data=st.data(), t=st.floats(0.01, 0.99))
def test_derivative_matches_finite_differences(name, data, t):
    sched = data.draw(schedule_of(name))
    h = 1e-6
    tt = torch.tensor([t - h, t, t + h], dtype=torch.float64)
    a = sched.alpha(tt)
    fd = (a[2] - a[0]) / (2 * h)
    d = sched.alpha_derivative(tt[1:2])[0]
    assert math.isclose(float(d), float(fd), rel_tol=1e-4, abs_tol=1e-6)


@pytest.mark.parametrize("name", [n for n in SCHEDULES if "invertible" in COMPS.get("schedule", n).capabilities])
@given(data=st.data(), t=UNIT)
def test_inverse_round_trips(name, data, t):
    sched = data.draw(schedule_of(name))
    tt = torch.tensor([t], dtype=torch.float64)
    a = sched.alpha(tt)
    eps = sched.config.eps
    # inverse() rejects alpha a rounding error outside [eps, 1 - eps], which alpha() itself produces
    # at flat ends (test_known_issues.py); round-trip the clipped value.
    inside = a.clamp(eps, 1 - eps)
    back = sched.inverse(inside)
    assert torch.allclose(sched.alpha(back), inside, atol=1e-9), "alpha(inverse(alpha(t))) != alpha(t)"
    slope = float(sched.alpha_derivative(tt).abs())
    if slope > 1e-2 and torch.equal(inside, a):  # where alpha is not flat, the time itself comes back
        assert abs(float(back) - t) < 1e-6 / slope + 1e-9


@pytest.mark.parametrize("name", SCHEDULES)
@given(data=st.data(), bad=st.one_of(st.floats(max_value=-1e-12), st.floats(min_value=1 + 1e-12), st.just(math.nan)))
def test_times_out_of_domain_raise(name, data, bad):
    sched = data.draw(schedule_of(name))
    t = torch.tensor([0.5, bad], dtype=torch.float64)
    for fn in (sched.alpha, sched.alpha_derivative, sched.masked_elbo_weight):
        with pytest.raises(ValueError):
            fn(t)
