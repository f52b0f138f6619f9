"""Ancestral sampling with an oracle denoiser on a tiny enumerable distribution."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy.stats import chisquare

from ladd_core.build import build_component, build_sampler
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput, BackboneSpec
from ladd_core.config.experiment import validate_config
from ladd_core.model import LaddModel
from ladd_core.posterior import TokenPosterior

V, L = 3, 3
STATES = torch.tensor(list(itertools.product(range(V), repeat=L)))  # (27, L)


def _target() -> torch.Tensor:
    """A strongly correlated distribution over V^L: most mass on a few sequences."""
    g = torch.Generator().manual_seed(3)
    p = 0.02 + torch.rand(len(STATES), generator=g, dtype=torch.float64) * 0.1
    p[[0, 13, 26]] += 1.0  # 000, 111, 222
    return p / p.sum()


class Oracle(Backbone):
    """Returns the true conditional marginals p(x0^l | unmasked part of x_t)."""

    class Config(BackboneConfig):
        name: str = "oracle"

    def __init__(self, p: torch.Tensor, mask_id: int) -> None:
        super().__init__(self.Config(), BackboneSpec(num_classes=V + 1, seq_len=L))
        self.p, self.mask_id = p, mask_id
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    @property
    def time_conditioned(self) -> bool:
        return False

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None):
        self.calls += 1
        ok = (tokens[:, None, :] == self.mask_id) | (tokens[:, None, :] == STATES[None])  # (B, 27, L)
        w = self.p[None] * ok.all(-1)  # (B, 27)
        onehot = torch.nn.functional.one_hot(STATES, V).double()  # (27, L, V)
        marg = torch.einsum("bs,slv->blv", w, onehot) / w.sum(-1)[:, None, None]
        logits = torch.full((tokens.shape[0], L, V + 1), -1e9, dtype=torch.float64)
        logits[..., :V] = marg.clamp_min(1e-300).log()
        return BackboneOutput(logits.float())


def oracle_model(components) -> LaddModel:
    """The default token process and objective with the :class:`Oracle` of ``_target()`` over V^L."""
    cfg = validate_config({}, components)
    process = build_component(components, "token_process", cfg.model.token_process, vocab_size=V)
    latent = build_component(components, "latent", cfg.model.latent)
    objective = build_component(components, "objective", cfg.objective)
    oracle = Oracle(_target(), process.mask_id)
    return LaddModel(process=process, latent=latent, backbone=oracle, objective=objective, seq_len=L)


@pytest.fixture()
def model(components):
    return oracle_model(components)


def _sample(components, model, steps, n=6000, seed=0, cache=True, batch=500):
    sampler = build_sampler(components, components.get("sampler", "ancestral").Config(steps=steps, cache=cache))
    g = torch.Generator().manual_seed(seed)
    outs = [sampler.sample(model, batch, generator=g) for _ in range(n // batch)]
    return torch.cat([o.tokens for o in outs]), outs


def _hist(x: torch.Tensor) -> torch.Tensor:
    idx = (x * torch.tensor([V**2, V, 1])).sum(-1)
    return torch.bincount(idx, minlength=len(STATES)).double()


@pytest.mark.parametrize("dense", [False, True])
def test_many_steps_reproduce_the_joint(components, model, monkeypatch, dense):
    # With N >> L almost every step reveals at most one token, so each draw is an exact conditional; both ways of
    # drawing (every row then keep the chosen, or the chosen rows only) must give the joint.
    monkeypatch.setattr(TokenPosterior, "dense_limit", 1 << 30 if dense else 0)
    x, _ = _sample(components, model, steps=400, n=4000, batch=4000)
    p = _target()
    stat = chisquare(_hist(x), p * len(x))
    assert stat.pvalue > 1e-3, stat


def test_one_step_gives_product_of_marginals(components, model):
    x, _ = _sample(components, model, steps=1)
    p = _target()
    onehot = torch.nn.functional.one_hot(STATES, V).double()
    marg = torch.einsum("s,slv->lv", p, onehot)  # (L, V)
    prod = marg[0][STATES[:, 0]] * marg[1][STATES[:, 1]] * marg[2][STATES[:, 2]]
    h = _hist(x)
    assert chisquare(h, prod * len(x)).pvalue > 1e-3
    assert chisquare(h, p * len(x)).pvalue < 1e-12, "one step cannot capture the correlations"


def test_cache_changes_no_sample_and_lowers_nfe(components, model):
    a, outs_a = _sample(components, model, steps=32, n=64, batch=8, cache=True)
    b, outs_b = _sample(components, model, steps=32, n=64, batch=8, cache=False)
    assert torch.equal(a, b)
    nfe_a = sum(o.nfe for o in outs_a)
    nfe_b = sum(o.nfe for o in outs_b)
    assert nfe_a < nfe_b
    assert sum(o.info["calls_saved"] for o in outs_a) == nfe_b - nfe_a
