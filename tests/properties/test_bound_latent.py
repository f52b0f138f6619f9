"""THE BOUND HOLDS with a discrete latent: the ``vq`` channel (Di-LADD) with a small codebook.

The joint state is ``L`` tokens followed by ``K = 1`` code (codebook ``C <= 3``), enumerable.  The
encoder is a table ``x -> code`` (deterministic, so the encoder-entropy term is 0) returning exact
codebook vectors; the denoiser is a random table over joint states read through the real channel
(code vectors in, SUBS code logits out).  ``ladd_core.testing.exact`` gives the joint sampler's
``p_N(x, c)`` and the discrete-time NELBO of the joint process, which bounds ``-log p_N(x, c0(x))``
and hence ``-log p_N(x) = -log sum_c p_N(x, c)``.  The reported NELBO is ``token_nelbo +
latent_nelbo`` of ``LaddModel.loss`` in eval mode (tied clocks).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from ladd_core.build import build_sampler
from ladd_core.components.data import Batch
from ladd_core.model import LaddModel
from ladd_core.testing.exact import (
    MaskedSpace,
    discrete_nelbo,
    expected_over_masks,
    generative_marginal,
    random_table,
    tanh_sinh,
)
from ladd_core.testing.strategies import generator_from, seeds
from ladd_core.testing.toys import TableDenoiser, TableEncoder, build_kind, validate_component
from tests.properties._schedules import COMPS, schedule_configs

pytestmark = pytest.mark.skipif("vq" not in COMPS.registry("latent"), reason="no vq latent registered")
SHAPES = st.sampled_from([(2, 1, 2), (2, 2, 2), (3, 1, 3), (2, 2, 3), (3, 2, 2)])  # (V, L, C); K = 1


def schedules() -> st.SearchStrategy:
    return schedule_configs({"power": st.floats(0.5, 4.0)}, {"eps": 0.0, "offset": 0.0})


def build(shape, sched_x, sched_y, seed):
    """``(joint space, table, codes of each clean x, model)``."""
    v, length, c = shape
    space = MaskedSpace([v] * length + [c])
    tokens = MaskedSpace([v] * length)
    g = generator_from(seed)
    codes = torch.randint(0, c, (len(tokens.clean_states), 1), generator=g)  # the deterministic "encoder"
    table = random_table(space, g)
    holder: dict[str, torch.nn.Module] = {}
    encoder = TableEncoder(
        codes, tokens.clean_index, lambda ids: holder["q"].lookup(ids), dim=3, vocab_size=v, seq_len=length
    )
    cfg = validate_component(
        COMPS, "latent",
        {"name": "vq", "codebook_size": c, "kmeans_iters": 0, "dead_threshold": 0.0, "two_stage": False,
         "schedule": sched_y.model_dump(mode="json")},
    )  # fmt: skip
    latent = COMPS.get("latent", "vq")(
        cfg, encoder=encoder, schedule=build_kind(COMPS, "schedule", cfg.schedule.model_dump())
    )
    holder["q"] = latent.quantizer

    def decode(vectors: torch.Tensor) -> torch.Tensor:  # code vectors -> ids (mask = C)
        cand = torch.cat([latent.quantizer.lookup(torch.arange(c)), latent.mask.vector[None]])  # (C + 1, D)
        return torch.cdist(vectors.float(), cand[None].expand(len(vectors), -1, -1)).argmin(-1)

    net = TableDenoiser(space.index, table, num_tokens=length, num_classes=v + 1, decode_latents=decode, code_count=c)
    process = build_kind(
        COMPS, "token_process", {"name": "masked", "schedule": sched_x.model_dump(mode="json")}, vocab_size=v
    )
    model = LaddModel(
        process=process, latent=latent, backbone=net, objective=build_kind(COMPS, "objective", {"name": "nelbo"}),
        seq_len=length, capabilities=frozenset({"joint", "sequential", "joint_bound", "tokens", "latent_stream"}),
    ).eval()  # fmt: skip
    return space, table, codes, model


def grid(model: LaddModel, steps: int, t_final: float, length: int) -> torch.Tensor:
    ts = torch.linspace(1.0, t_final, steps + 1, dtype=torch.float64)
    a = torch.stack([model.process.schedule.alpha(ts)] * length + [model.latent.schedule.alpha(ts)], dim=1)
    a[0] = torch.where(a[0] < 1e-15, torch.zeros_like(a[0]), a[0])  # below float64 resolution: the all-mask prior
    return a


def joint_states(space: MaskedSpace, codes: torch.Tensor, length: int) -> torch.Tensor:
    """``(x, c0(x))`` for every clean token sequence, as joint states ``(S_x, L + 1)``."""
    xs = MaskedSpace(list(space.sizes[:length])).clean_states
    return torch.cat([xs, codes], dim=1)


def reported_nelbo(model: LaddModel, x0c0: torch.Tensor, length: int) -> torch.Tensor:
    """``E_t E_{x_t, c_t}[token_nelbo + latent_nelbo]`` as ``vq`` reports them, by enumeration and quadrature."""
    space = MaskedSpace([model.process.vocab_size] * length + [model.latent.config.codebook_size])
    t, _, w = tanh_sinh()
    alphas = torch.stack([model.process.schedule.alpha(t)] * length + [model.latent.schedule.alpha(t)], dim=1)
    x0, c0 = x0c0[:length], x0c0[length:]

    def fn(states: torch.Tensor, m: int) -> torch.Tensor:
        tt = t.repeat_interleave(m)
        x_t, c_t = states[:, :length], states[:, length:]
        with torch.no_grad():
            out = model.backbone(x_t, model.latent.network_input(c_t), tt.float(), tt.float())
            lp = model.process.log_probs(out.token_logits, x_t)
            ones = torch.ones_like(x_t, dtype=torch.bool)
            tok = model.objective(model.process, lp, x0.expand(len(x_t), -1), x_t, tt, ones).nelbo
            clp = model.latent.code_log_probs(out.latent_out, c_t)
            nll = -clp.gather(-1, c0.expand(len(c_t), -1)[..., None]).squeeze(-1)
            nll = nll.masked_fill(c_t != model.latent.mask_id, 0.0)
            weight = model.latent.schedule.masked_elbo_weight(tt.clamp_min(model.latent.config.t_min))
            return tok + weight * nll.sum(-1)

    return (w * expected_over_masks(space, x0c0, alphas, fn)).sum()


@given(SHAPES, schedules(), schedules(), st.integers(1, 10), st.floats(1e-5, 0.5), seeds())
def test_joint_discrete_nelbo_bounds_the_models_own_nll(shape, sx, sy, steps, t_final, seed):
    space, table, codes, model = build(shape, sx, sy, seed)
    length = shape[1]
    p_joint = generative_marginal(space, table, grid(model, steps, t_final, length))  # (S_x * C,)
    p_x = p_joint.reshape(-1, shape[2]).sum(-1)  # codes are the last position
    for i, xc in enumerate(joint_states(space, codes, length)):
        bound = discrete_nelbo(space, table, grid(model, steps, t_final, length), xc)
        nll_joint = -math.log(p_joint[space.clean_index(xc)])
        assert bound >= nll_joint - 1e-9 and nll_joint >= -math.log(p_x[i]) - 1e-12


@given(SHAPES, schedules(), schedules(), st.integers(1, 5), st.floats(1e-5, 0.5), seeds())
def test_the_joint_sampler_draws_from_the_reference_p_N(shape, sx, sy, steps, t_final, seed):
    space, table, _, model = build(shape, sx, sy, seed)
    p = generative_marginal(space, table, grid(model, steps, t_final, shape[1]))
    cfg = validate_component(COMPS, "sampler", {"name": "joint", "steps": steps, "t_final": t_final})
    n = 3000
    out = build_sampler(COMPS, cfg).sample(model, n, generator=generator_from(seed + 1))
    counts = torch.bincount(space.clean_index(torch.cat([out.tokens, out.latents], 1)), minlength=len(p)).double()
    big = p * n >= 5
    obs = torch.cat([counts[big], counts[~big].sum()[None]])
    exp = torch.cat([p[big], p[~big].sum()[None]]) * n
    keep = exp > 0
    assert chisquare(obs[keep].numpy(), (exp[keep] * obs.sum() / exp[keep].sum()).numpy()).pvalue > 1e-6


@given(SHAPES, schedules(), schedules(), seeds())
def test_reported_joint_nelbo_is_the_limit_and_bounds_the_nll(shape, sx, sy, seed):
    space, table, codes, model = build(shape, sx, sy, seed)
    length = shape[1]
    xc = joint_states(space, codes, length)[seed % (shape[0] ** length)]
    reported = reported_nelbo(model, xc, length)
    limit = discrete_nelbo(space, table, grid(model, 4096, 1e-7, length), xc)
    assert abs(float(limit - reported)) < 0.01 * (1 + float(reported)), f"NELBO_4096 {limit} vs reported {reported}"
    p_x = generative_marginal(space, table, grid(model, 256, 1e-7, length)).reshape(-1, shape[2]).sum(-1)
    x_index = MaskedSpace([shape[0]] * length).clean_index(xc[:length])
    assert float(reported) >= -math.log(p_x[x_index]) - 0.02  # stated tolerance: the N = 256 gap


def test_loss_reports_the_joint_nelbo_in_expectation():
    """``LaddModel.loss`` in eval mode: ``token_nelbo + latent_nelbo`` averages to the exact value (CLT, 5 SE)."""
    comps_sched = validate_component(COMPS, "schedule", {"name": "linear", "eps": 0.0})
    shape = (2, 2, 2)
    space, _, codes, model = build(shape, comps_sched, comps_sched, 3)
    xc = joint_states(space, codes, 2)[1]
    n = 8192
    x = xc[:2].expand(n, -1).clone()
    out = model.loss(Batch(x, torch.ones_like(x, dtype=torch.bool)), generator_from(5))
    total = out.token_nelbo + out.latent_nelbo
    se = float(total.std()) / n**0.5
    assert abs(float(total.mean()) - float(reported_nelbo(model, xc, 2))) < 5 * se + 2e-3
