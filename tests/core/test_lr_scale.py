"""``train.lr_scale``: per-module LR multipliers by parameter-name prefix (e.g. a slower encoder)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ladd_core.config.experiment import TrainConfig
from ladd_core.training.optim import build_optimizer, lr_scales


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
        self.encoder_head = nn.Linear(3, 1)  # shares the text "encoder" but not the module path
        self.backbone = nn.Linear(3, 2)


def _names(net: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in net.named_parameters()}


def _lr_of(opt: torch.optim.Optimizer) -> dict[int, float]:
    return {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}


def test_without_lr_scale_the_two_groups_of_earlier_versions_are_kept():
    net = _Net()
    cfg = TrainConfig(lr=1e-3, weight_decay=0.1)
    opt, _ = build_optimizer(net.parameters(), cfg, _names(net))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert {g["initial_lr"] for g in opt.param_groups} == {1e-3}  # the peak; warm-up scales g["lr"]
    # a stage whose parameters are all matrices still has the (empty) no-decay group, so old checkpoints load
    only_matrices = [p for p in net.parameters() if p.ndim == 2]
    opt, _ = build_optimizer(only_matrices, cfg)
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == []


def test_the_longest_matching_prefix_sets_the_lr_and_the_schedule_follows():
    net = _Net()
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, lr_scale={"encoder": 0.5, "encoder.1": 0.1})
    opt, sched = build_optimizer(net.parameters(), cfg, _names(net))
    lr = _lr_of(opt)
    assert lr[id(net.encoder[0].weight)] == pytest.approx(0.1 * 0.5e-3 * 1)  # warm-up factor 1/10 at step 0
    assert lr[id(net.encoder[1].bias)] == pytest.approx(0.1 * 0.1e-3)
    assert lr[id(net.encoder_head.weight)] == pytest.approx(0.1 * 1e-3), "'encoder' must not match 'encoder_head'"
    assert lr[id(net.backbone.weight)] == pytest.approx(0.1 * 1e-3)
    for _ in range(20):  # past the warm-up: every group at its scaled peak
        opt.step()
        sched.step()
    lr = _lr_of(opt)
    assert lr[id(net.encoder[0].weight)] == pytest.approx(0.5e-3)
    assert lr[id(net.backbone.weight)] == pytest.approx(1e-3)
    # one group per (matrices or vectors, scale): 2 x 3 here, each holding one kind only
    assert len(opt.param_groups) == 6
    assert all(len({p.ndim >= 2 for p in g["params"]}) == 1 for g in opt.param_groups)


def test_a_zero_scale_freezes_in_effect_and_training_moves_the_rest():
    torch.manual_seed(0)
    net = _Net()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    cfg = TrainConfig(lr=1e-2, warmup_steps=0, lr_scale={"encoder": 0.0})
    opt, sched = build_optimizer(net.parameters(), cfg, _names(net))
    for _ in range(3):
        loss = (net.backbone(net.encoder(torch.randn(4, 3))) ** 2).sum() + net.encoder_head(torch.randn(4, 3)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    for n, p in net.named_parameters():
        moved = not torch.equal(p, before[n])
        assert moved == (not n.startswith("encoder.")), n


def test_an_unknown_prefix_is_an_error_naming_the_field_and_the_modules():
    net = _Net()
    with pytest.raises(ValueError, match=r"train\.lr_scale.*'encodr'.*backbone.*encoder"):
        lr_scales(list(net.parameters()), {"encodr": 0.3}, _names(net))
    # a prefix of frozen parameters is still known (the stage that freezes the encoder keeps the config valid)
    frozen = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
    assert lr_scales(frozen, {"encoder": 0.3}, _names(net)) == [1.0] * len(frozen)


def test_the_config_rejects_negative_or_non_finite_scales():
    with pytest.raises(ValueError):
        TrainConfig(lr_scale={"encoder": -1.0})
    with pytest.raises(ValueError):
        TrainConfig(lr_scale={"encoder": float("nan")})


def test_a_trainer_run_applies_the_scale_to_the_encoder_and_resumes(components, tmp_path):
    """End to end through ``build_trainer``: ``latent.encoder`` at scale 0 stays at its init while the rest
    trains, and the run resumes from its checkpoint with the scaled groups."""
    from ladd_core.config.experiment import validate_config
    from ladd_core.training.factory import build_trainer

    data = {
        "model": {
            "latent": {
                "name": "gaussian",
                "encoder": {"name": "transformer", "num_slots": 1, "dim": 8, "hidden": 16, "layers": 1, "heads": 2},
            },
            "backbone": {"name": "mmdit", "hidden": 16, "layers": 1, "heads": 2, "cond_dim": 8},
        },
        "data": {"name": "sawtooth", "seq_len": 16, "train_size": 256, "val_size": 64},
        "sampler": {"name": "joint", "steps": 4},
        "train": {
            "batch_size": 16, "max_steps": 4, "log_every": 2, "checkpoint_every": 2, "threads": 1,
            "warmup_steps": 0, "ema": 0.0, "lr_scale": {"latent.encoder": 0.0},
        },
    }  # fmt: skip
    cfg = validate_config(data, components)
    torch.manual_seed(0)
    trainer = build_trainer(cfg, components, tmp_path / "run", log=lambda msg: None)
    init = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, init[n])}
    assert changed and not any(n.startswith("latent.encoder.") for n in changed)
    assert any(n.startswith("backbone.") for n in changed)
    more = validate_config({**data, "train": {**data["train"], "max_steps": 6}}, components)
    resumed = build_trainer(more, components, tmp_path / "run", log=lambda msg: None)
    assert resumed.state.step == 4
    resumed.train()
    for n, p in resumed.model.named_parameters():
        if n.startswith("latent.encoder."):
            assert torch.equal(p, init[n]), n

    bad = validate_config({**data, "train": {**data["train"], "lr_scale": {"latent.encodr": 0.5}}}, components)
    with pytest.raises(ValueError, match=r"train\.lr_scale.*latent\.encodr.*backbone"):
        build_trainer(bad, components, tmp_path / "bad", log=lambda msg: None).train()
