from __future__ import annotations

import math

import pytest
import torch

from ladd_core.build import build_component
from ladd_core.config.experiment import validate_config


@pytest.fixture()
def process(components):
    cfg = validate_config({}, components)
    return build_component(components, "token_process", cfg.model.token_process, vocab_size=5)


def test_forward_masks_fraction_one_minus_alpha(process):
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.randint(0, 5, (1, n), generator=g)
    for t in (0.1, 0.5, 0.9):
        out = process.forward_sample(x0, torch.tensor([t]), torch.ones_like(x0, dtype=torch.bool), g)
        p = 1 - float(process.schedule.alpha(torch.tensor(t)))
        frac = out.noised.float().mean().item()
        assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
        assert torch.equal(out.x_t[out.noised], torch.full_like(out.x_t[out.noised], process.mask_id))
        assert torch.equal(out.x_t[~out.noised], x0[~out.noised])


def test_padding_never_noised(process):
    x0 = torch.randint(0, 5, (4, 50))
    maskable = torch.ones_like(x0, dtype=torch.bool)
    maskable[:, 30:] = False
    out = process.forward_sample(x0, torch.ones(4), maskable)
    assert not out.noised[:, 30:].any() and torch.equal(out.x_t[:, 30:], x0[:, 30:])


def test_subs_parameterisation(process):
    logits = torch.randn(2, 6, process.num_classes) * 5
    x_t = torch.tensor([[0, 5, 2, 5, 4, 5], [5, 5, 5, 1, 1, 3]])
    lp = process.log_probs(logits, x_t)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 6))
    assert (lp[..., process.mask_id].exp() == 0).all(), "the mask is never predicted"
    unmasked = x_t != process.mask_id
    assert torch.equal(lp.argmax(-1)[unmasked], x_t[unmasked]), "unmasked positions are copied"
    assert (lp[unmasked].exp().max(-1).values == 1).all()
    assert torch.isfinite(lp).all()


def test_reverse_step_keeps_and_never_unreveals(process):
    g = torch.Generator().manual_seed(1)
    x = process.prior(64, 20, torch.device("cpu"))
    logits = torch.randn(64, 20, process.num_classes)
    ts = torch.linspace(1, 1e-5, 9)
    for i in range(8):
        lp = process.log_probs(logits, x)
        new = process.reverse_step(x, lp, ts[i].repeat(64), ts[i + 1].repeat(64), g)
        revealed = x != process.mask_id
        assert torch.equal(new[revealed], x[revealed]), "revealed tokens are kept"
        assert (new[new != process.mask_id] < 5).all()
        x = new
    assert not (x == process.mask_id).any(), "the last step of a grid ending near 0 reveals everything"


def test_reverse_step_reveal_probability(process):
    g = torch.Generator().manual_seed(2)
    n = 100_000
    x = process.prior(1, n, torch.device("cpu"))
    lp = process.log_probs(torch.zeros(1, n, process.num_classes), x)
    t, s = torch.tensor([0.8]), torch.tensor([0.5])
    new = process.reverse_step(x, lp, t, s, g)
    a_t, a_s = process.schedule.alpha(t), process.schedule.alpha(s)
    p = float((a_s - a_t) / (1 - a_t))
    frac = (new != process.mask_id).float().mean().item()
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n)
    counts = torch.bincount(new[new != process.mask_id], minlength=5).float()
    assert (counts / counts.sum() - 0.2).abs().max() < 0.01, "uniform logits reveal uniformly"
