"""THE BOUND HOLDS: exact likelihoods of a model's own finite-step sampler versus its NELBO (token channel).

On ``V^L`` with ``V <= 3`` and ``L <= 3`` a denoiser is a table over every (partially masked) state.
``ladd_core.testing.exact`` computes, by enumeration:

* ``p_N(x)``: the distribution of the model's own N-step ancestral sampler (checked against the
  real ``ancestral`` sampler by a chi-square test);
* ``NELBO_N(x)``: the discrete-time bound of that process, ``>= -log p_N(x)`` for every ``x``;
* the continuous-time NELBO in closed form (schedule-free), the ``N -> inf`` limit of ``NELBO_N``.

``ladd_core.testing.toys.reported_token_nelbo`` computes what ladd *reports* (``process.log_probs``,
the ``nelbo`` objective, ``process.elbo_weight``) in exact expectation over ``x_t`` and ``t``.
Tolerances: 1e-9 nats for exact-vs-exact; 1e-5 relative for reported-vs-closed-form (float32
log-probs); the discretisation gap for finite N is measured, not assumed.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from ladd_core.build import build_sampler
from ladd_core.testing.exact import (
    MaskedSpace,
    continuous_nelbo,
    discrete_nelbo,
    entropy,
    generative_marginal,
    random_table,
    true_table,
)
from ladd_core.testing.strategies import generator_from, seeds
from ladd_core.testing.toys import reported_token_nelbo, table_model, validate_component
from tests.properties._schedules import COMPS, SCHEDULES, schedule_configs

SPACES = st.sampled_from([(2, 1), (2, 2), (3, 2), (2, 3), (3, 3)])  # (V, L)
# Shapes the quadrature resolves.  cosine: offset 0 only -- with an offset its float32 normaliser makes
# alpha(0) > 1 (test_known_issues.py), so w(t) = -alpha'/(1 - alpha) overflows near t = 0.
TAME = {"power": st.floats(0.5, 4.0)}


def schedules(eps: float | None = 0.0, tame: bool = True) -> st.SearchStrategy:
    """A registered schedule's config drawn from its ``Config`` (``eps`` fixed unless ``None``)."""
    return schedule_configs(TAME if tame else None, None if eps is None else {"eps": eps})


def alpha_grid(model, steps: int, t_final: float, length: int) -> torch.Tensor:
    """Keep probabilities ``(N + 1, L)`` on the samplers' grid ``linspace(1, t_final, N + 1)``.

    A keep probability below 1e-15 at ``t = 1`` (``cosine``: 3.7e-33) is below float64 resolution in
    every reveal probability, so it is taken as exactly 0 (the all-mask prior).
    """
    ts = torch.linspace(1.0, t_final, steps + 1, dtype=torch.float64)
    a = model.process.schedule.alpha(ts)[:, None].expand(-1, length).clone()
    a[0] = torch.where(a[0] < 1e-15, torch.zeros_like(a[0]), a[0])
    return a


def _setup(vl, schedule, seed):
    v, length = vl
    space = MaskedSpace([v] * length)
    table = random_table(space, generator_from(seed))
    model = table_model(COMPS, table, space.index, vocab_size=v, seq_len=length, schedule=schedule)
    return space, table, model


@given(SPACES, schedules(tame=False), st.integers(1, 12), st.floats(1e-5, 0.5), seeds())
def test_discrete_nelbo_bounds_the_models_own_nll(vl, schedule, steps, t_final, seed):
    space, table, model = _setup(vl, schedule, seed)
    p_n = generative_marginal(space, table, alpha_grid(model, steps, t_final, space.P))
    assert torch.isclose(p_n.sum(), torch.ones((), dtype=torch.float64), atol=1e-12) and (p_n >= 0).all()
    for i, x0 in enumerate(space.clean_states):
        bound = discrete_nelbo(space, table, alpha_grid(model, steps, t_final, space.P), x0)
        assert bound >= -math.log(p_n[i]) - 1e-9, f"x0={x0.tolist()}: NELBO_N {bound} < -log p_N {-math.log(p_n[i])}"


@given(SPACES.filter(lambda vl: vl[1] >= 2), schedules(tame=False), st.integers(2, 6), st.floats(1e-5, 0.5), seeds())
def test_the_ancestral_sampler_draws_from_the_reference_p_N(vl, schedule, steps, t_final, seed):
    """(With one position, or one step, every reveal schedule gives the same samples: both are excluded.)"""
    space, table, model = _setup(vl, schedule, seed)
    p_n = generative_marginal(space, table, alpha_grid(model, steps, t_final, space.P))
    cfg = validate_component(COMPS, "sampler", {"name": "ancestral", "steps": steps, "t_final": t_final})
    n = 4000
    x = build_sampler(COMPS, cfg).sample(model, n, generator=generator_from(seed + 1)).tokens
    counts = torch.bincount(space.clean_index(x), minlength=len(p_n)).double()
    expected = p_n * n
    big = expected >= 5  # merge sparse cells so the chi-square approximation holds
    obs = torch.cat([counts[big], counts[~big].sum()[None]])
    exp = torch.cat([expected[big], expected[~big].sum()[None]])
    keep = exp > 0
    assert chisquare(obs[keep].numpy(), exp[keep].numpy() * (obs.sum() / exp[keep].sum()).item()).pvalue > 1e-6


@given(SPACES, schedules(eps=None), seeds())
def test_reported_nelbo_equals_the_closed_form_continuous_nelbo(vl, schedule, seed):
    space, table, model = _setup(vl, schedule, seed)
    sched = model.process.schedule
    a_lo = float(sched.alpha(torch.ones(1, dtype=torch.float64)))
    a_hi = float(sched.alpha(torch.zeros(1, dtype=torch.float64)))
    for x0 in space.clean_states[:4]:
        want = continuous_nelbo(space, table, x0, a_lo, a_hi)
        got = reported_token_nelbo(model, x0)
        assert torch.isclose(got, want, rtol=1e-5, atol=1e-7), f"reported {got} vs continuous-time {want}"


@given(SPACES, schedules(), seeds())
def test_continuous_nelbo_is_the_limit_of_the_discrete_one(vl, schedule, seed):
    space, table, model = _setup(vl, schedule, seed)
    x0 = space.clean_states[seed % len(space.clean_states)]
    reported = reported_token_nelbo(model, x0)
    gaps = [
        float((discrete_nelbo(space, table, alpha_grid(model, n, 1e-7, space.P), x0) - reported).abs())
        for n in (128, 4096)
    ]
    assert gaps[1] < 0.01 * (1 + float(reported)), f"|NELBO_N - NELBO| = {gaps[1]} at N=4096"
    assert gaps[1] <= gaps[0] / 4 + 1e-5, f"no O(1/N) convergence: gaps {gaps} at N=128, 4096"


@given(SPACES, schedules(), seeds())
def test_reported_nelbo_bounds_the_nll_of_the_many_step_sampler(vl, schedule, seed):
    """``NELBO >= -log p_inf(x)``; ``p_512`` stands in for ``p_inf`` (stated tolerance: 0.01 nats)."""
    space, table, model = _setup(vl, schedule, seed)
    p_n = generative_marginal(space, table, alpha_grid(model, 512, 1e-7, space.P))
    for i, x0 in enumerate(space.clean_states[:6]):
        assert float(reported_token_nelbo(model, x0)) >= -math.log(p_n[i]) - 0.01


def _data_distribution(space: MaskedSpace, seed: int) -> torch.Tensor:
    """A strongly correlated, strictly positive distribution on the clean states."""
    g = generator_from(seed)
    p = 0.05 + torch.rand(len(space.clean_states), generator=g, dtype=torch.float64)
    p[torch.randint(0, len(p), (2,), generator=g)] += 3.0
    return p / p.sum()


@given(SPACES, schedules(), seeds())
def test_with_the_true_denoiser_the_nelbo_is_the_data_nll(vl, schedule, seed):
    v, length = vl
    space = MaskedSpace([v] * length)
    p_data = _data_distribution(space, seed)
    model = table_model(COMPS, true_table(space, p_data), space.index, vocab_size=v, seq_len=length, schedule=schedule)
    nelbo = torch.stack([reported_token_nelbo(model, x0) for x0 in space.clean_states])
    assert torch.allclose(nelbo, -p_data.log(), rtol=1e-5, atol=1e-6), "per-sequence NELBO != -log p_data(x)"
    assert torch.isclose((p_data * nelbo).sum(), entropy(p_data), rtol=1e-5)


@pytest.mark.parametrize("schedule_name", SCHEDULES)
def test_training_path_estimates_the_data_entropy_with_the_true_denoiser(schedule_name):
    """``LaddModel.loss`` (time sampling, forward noising, objective) is unbiased for ``H(p_data)``."""
    v, length, n = 3, 3, 8192
    space = MaskedSpace([v] * length)
    p_data = _data_distribution(space, 7)
    schedule = validate_component(COMPS, "schedule", {"name": schedule_name})
    model = table_model(COMPS, true_table(space, p_data), space.index, vocab_size=v, seq_len=length, schedule=schedule)
    g = generator_from(11)
    x = space.clean_states[torch.multinomial(p_data, n, replacement=True, generator=g)]
    from ladd_core.components.data import Batch

    out = model.loss(Batch(x, torch.ones_like(x, dtype=torch.bool)), g)
    mean, se = out.token_nelbo.mean(), out.token_nelbo.std() / n**0.5
    # the objective draws t in [t_min, 1]: the part of the integral below t_min (~1e-4) is left out
    assert abs(float(mean) - float(entropy(p_data))) < 5 * float(se) + 1e-3
