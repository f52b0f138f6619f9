"""Every sampler honours a condition: given tokens never change, the rest is generated, NFE = calls made.

Tiny MDLM, Co-LADD (joint; sequential with a latent denoiser) and Di-LADD (joint; sequential) models,
every compatible sampler (``maskgit`` and ``remdm`` in each latent mode the model offers), random
prompts and infilling patterns drawn by hypothesis.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ladd_core.build import build_sampler
from ladd_core.conditioning import Condition, ConditionError
from ladd_core.testing.toys import build_tiny_model, jiggle, tiny_config

V, L = 3, 6

MODELS = {
    "mdlm": ({"name": "none"}, False),
    "coladd-joint": ("gaussian", False),
    "coladd-seq": ("gaussian", True),
    "diladd-joint": ("vq", False),
    "diladd-seq": ("vq-seq", False),
}
SAMPLERS = [
    ("ancestral", {}),
    ("joint", {"latent_steps": 2}),
    ("sequential", {"latent_steps": 2}),
    ("maskgit", {"latent_mode": "none"}),
    ("maskgit", {"latent_mode": "sequential", "latent_steps": 2, "noise": 1.0}),
    ("maskgit", {"latent_mode": "joint", "latent_steps": 2}),
    ("remdm", {"latent_mode": "none", "eta": 0.5}),
    ("remdm", {"latent_mode": "sequential", "latent_steps": 2, "strategy": "rescale", "eta": 0.5}),
    ("remdm", {"latent_mode": "joint", "latent_steps": 2, "eta": 0.5}),
]


@pytest.fixture(scope="module")
def models(components):
    out = {}
    for key, (latent, den) in MODELS.items():
        if latent == "vq-seq":
            data = tiny_config(components, "latent", "vq", {"target": "sequential"})
        elif isinstance(latent, str):
            data = tiny_config(components, "latent", latent)
        else:
            data = latent
        tm = build_tiny_model(components, data, vocab_size=V, seq_len=L, with_denoiser=den)
        jiggle(tm.model)
        out[key] = tm.model.eval()
    return out


def _cells(components, models):
    for key, model in models.items():
        for name, fields in SAMPLERS:
            cls = components.get("sampler", name)
            cfg = cls.Config(steps=3, **fields)
            if cls.requires_for(cfg) <= model.capabilities:
                yield key, name, fields, build_sampler(components, cfg)


def _condition(draw_visible: list[bool], draw_ids: list[int]) -> Condition:
    return Condition(torch.tensor([draw_ids], dtype=torch.long), torch.tensor([draw_visible]))


def test_every_model_has_its_samplers(components, models):
    got = {(k, n) for k, n, *_ in _cells(components, models)}
    assert ("mdlm", "ancestral") in got and ("mdlm", "maskgit") in got and ("coladd-seq", "sequential") in got
    assert ("diladd-joint", "joint") in got and ("diladd-seq", "remdm") in got
    assert ("mdlm", "joint") not in got and ("coladd-joint", "sequential") not in got
    assert len(list(_cells(components, models))) == 18  # 3 + 3 + 3 + 6 (vq, independent clocks) + 3


@settings(max_examples=6, deadline=None)
@given(
    visible=st.lists(st.booleans(), min_size=L, max_size=L).filter(lambda v: not all(v)),
    ids=st.lists(st.integers(0, V - 1), min_size=L, max_size=L),
    seed=st.integers(0, 2**16),
)
def test_visible_tokens_are_kept_by_every_sampler(components, models, visible, ids, seed):
    cond = _condition(visible, ids)
    for key, name, fields, sampler in _cells(components, models):
        model = models[key]
        calls = {"n": 0}
        nets = [model.backbone] + ([model.latent_denoiser] if model.latent_denoiser is not None else [])
        hooks = [n.register_forward_hook(lambda *a, c=calls: c.__setitem__("n", c["n"] + 1)) for n in nets]
        enc = getattr(model.latent, "encoder", None)
        if enc is not None and getattr(model.latent.config, "prompt_latent", None) == "encoder":
            hooks.append(enc.register_forward_hook(lambda *a, c=calls: c.__setitem__("n", c["n"] + 1)))
        try:
            out = sampler.sample(model, 3, generator=torch.Generator().manual_seed(seed), condition=cond)
        finally:
            for h in hooks:
                h.remove()
        where = f"{key} / {name} {fields}"
        assert out.tokens.shape == (3, L), where
        assert cond.expand(3).preserved(out.tokens), where
        assert not model.process.is_noised(out.tokens).any(), where
        assert ((out.tokens >= 0) & (out.tokens < V)).all(), where
        assert out.nfe == calls["n"], f"{where}: NFE {out.nfe}, calls {calls['n']}"


def test_a_row_per_sample_condition(components, models):
    ids = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 2, 2, 2, 2]])
    vis = torch.tensor([[True, True, False, False, False, False], [False, False, False, False, True, True]])
    cond = Condition(ids, vis)
    sampler = build_sampler(components, components.get("sampler", "ancestral").Config(steps=2))
    out = sampler.sample(models["mdlm"], 2, generator=torch.Generator().manual_seed(0), condition=cond)
    assert cond.preserved(out.tokens)
    with pytest.raises(ConditionError, match="2 rows cannot condition a batch of 3"):
        sampler.sample(models["mdlm"], 3, generator=torch.Generator().manual_seed(0), condition=cond)
    with pytest.raises(ConditionError, match="length 6, asked for 5"):
        sampler.sample(models["mdlm"], 2, generator=torch.Generator().manual_seed(0), condition=cond, length=5)


def test_sequential_latent_reads_the_prompt(components, models):
    """Di-LADD's latent chain is fed the prompt (not the all-mask prior); Co-LADD's comes from the encoder."""
    cond = _condition([True, True, True, False, False, False], [1, 0, 2, 0, 0, 0])
    seen = []
    model = models["diladd-seq"]
    hook = model.backbone.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    sampler = build_sampler(components, components.get("sampler", "sequential").Config(steps=1, latent_steps=2))
    try:
        sampler.sample(model, 2, generator=torch.Generator().manual_seed(0), condition=cond)
    finally:
        hook.remove()
    for tokens in seen[:3]:  # the M + 1 latent calls
        assert torch.equal(tokens[:, :3], torch.tensor([[1, 0, 2]] * 2)) and bool((tokens[:, 3:] == V).all())
    co = models["coladd-seq"]
    y = co.latent.prompt_latent(co.nets, torch.tensor([[1, 0, 2, V, V, V]]), cond.visible)
    x_same = torch.tensor([[1, 0, 2, 1, 1, 1]])
    assert torch.allclose(y.float(), co.latent.encoder(x_same, torch.ones_like(cond.visible), ~cond.visible))
    other = co.latent.prompt_latent(co.nets, torch.tensor([[2, 2, 2, V, V, V]]), cond.visible)
    assert not torch.allclose(y, other), "the latent depends on the visible tokens"
