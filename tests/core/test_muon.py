"""``train.optimizer: muon``: the Newton-Schulz step, which parameters are Muon's, AdamW's part, resume."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import TrainConfig, validate_config
from ladd_core.training.factory import build_trainer
from ladd_core.training.muon import MuonAdamW, orthogonalize
from ladd_core.training.optim import build_optimizer, linear_weight_ids


@pytest.mark.parametrize("shape", [(16, 48), (48, 16), (32, 32)])
def test_orthogonalize_flattens_the_spectrum(shape):
    gen = torch.Generator().manual_seed(0)
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=gen))  # (A, k) orthonormal columns
    v, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=gen))  # (B, k)
    g = u @ torch.diag(torch.logspace(0, -2, k)) @ v.T  # singular values over two decades
    s = torch.linalg.svdvals(orthogonalize(g))
    assert orthogonalize(g).shape == g.shape
    assert s.min() > 0.5 and s.max() < 1.3, s  # the quintic iteration lands in about [0.7, 1.2]


def test_orthogonalize_rejects_non_matrices():
    with pytest.raises(ValueError, match="matrix"):
        orthogonalize(torch.ones(3))


def _dit_trainer(tmp_path, components, **train):
    cfg = {
        "seed": 0,
        "model": {
            "token_process": {"name": "masked", "schedule": {"name": "linear"}},
            "latent": {"name": "none"},
            "backbone": {"name": "dit", "hidden": 16, "layers": 2, "heads": 2, "cond_dim": 8},
        },
        "data": {"name": "sawtooth", "seq_len": 16},
        "train": {"batch_size": 4, "max_steps": 8, "warmup_steps": 2, "log_every": 1000, "checkpoint_every": 4,
                  "threads": 1, "optimizer": "muon", "weight_decay": 0.01, **train},
    }  # fmt: skip
    return build_trainer(validate_config(cfg, components), components, tmp_path, log=lambda msg: None)


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest(tmp_path, components):
    trainer = _dit_trainer(tmp_path, components)
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    on = {g["algorithm"]: sorted(names[id(p)] for p in g["params"]) for g in trainer.optimizer.param_groups}
    groups = trainer.optimizer.param_groups
    muon = sorted(names[id(p)] for g in groups if g["algorithm"] == "muon" for p in g["params"])
    expected = sorted(
        f"backbone.blocks.{i}.{m}.weight" for i in range(2) for m in ("qkv", "attn_out", "mlp.fc1", "mlp.fc2")
    )
    assert muon == expected, on
    adamw = [names[id(p)] for g in groups if g["algorithm"] == "adamw" for p in g["params"]]
    assert "backbone.embed.weight" in adamw and "backbone.final.linear.weight" in adamw
    assert any("ada_ln" in n for n in adamw) and len(adamw) + len(muon) == len(names)


def test_adamw_groups_update_exactly_like_torch_adamw():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7), nn.Linear(7, 3))
    twin = copy.deepcopy(net)
    cfg = TrainConfig(optimizer="muon", lr=1e-2, weight_decay=0.1, warmup_steps=0, muon_exclude=["*"])
    names = {id(p): n for n, p in net.named_parameters()}
    ours, _ = build_optimizer(net.parameters(), cfg, names, linear_weight_ids(net))
    assert isinstance(ours, MuonAdamW) and all(g["algorithm"] == "adamw" for g in ours.param_groups)
    decay = [p for p in twin.parameters() if p.ndim >= 2]
    rest = [p for p in twin.parameters() if p.ndim < 2]
    ref = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-2)
    x = torch.randn(9, 5)
    for _ in range(3):
        for model, opt in ((net, ours), (twin, ref)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_muon_step_has_adamw_rms_scale_and_decays():
    w = nn.Parameter(torch.randn(24, 64, generator=torch.Generator().manual_seed(1)))
    before = w.detach().clone()
    opt = MuonAdamW([{"params": [w], "lr": 1e-2, "weight_decay": 0.0, "algorithm": "muon"}])
    w.grad = torch.randn(24, 64, generator=torch.Generator().manual_seed(2)) * 1e-4  # tiny: the size is normalised
    opt.step()
    rms = (w.detach() - before).square().mean().sqrt() / 1e-2
    assert 0.1 < rms < 0.3, rms  # 0.2 lr for a perfectly orthogonal update
    assert "momentum_buffer" in opt.state[w]
    with pytest.raises(ValueError, match="2-D"):
        MuonAdamW([{"params": [nn.Parameter(torch.ones(3))], "algorithm": "muon"}])


def test_muon_with_fsdp_is_a_config_error(components):
    with pytest.raises(ConfigError, match="train"):
        validate_config({"train": {"optimizer": "muon", "fsdp": True}}, components)


def test_muon_resume_continues_the_run_exactly(tmp_path, components):
    straight = _dit_trainer(tmp_path / "a", components)
    straight.train()
    first = _dit_trainer(tmp_path / "b", components, max_steps=4)
    first.train()
    resumed = _dit_trainer(tmp_path / "b", components)  # finds step 4's checkpoint, momentum buffers included
    assert resumed.state.step == 4
    resumed.train()
    for (n, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
