from __future__ import annotations

import json

import pytest
import torch

import ladd_core.training.checkpoint as ck
from ladd_core.training.checkpoint import (
    CheckpointError,
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def _save(root, step, value=1.0):
    model = {"w": torch.full((3, 2), value), "b": torch.zeros(2)}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    opt.param_groups[0]["params"][0].grad = torch.ones(2)
    opt.step()
    return save_checkpoint(
        root,
        model_state=model,
        ema_state={"w": model["w"] * 2},
        optimizer_state=opt.state_dict(),
        scheduler_state={"last_epoch": step},
        rng_states={"train": torch.Generator().manual_seed(1).get_state()},
        train_state=TrainState(step=step, stage=2, epoch=1, batch_index=5),
    )


def test_round_trip_and_keep(tmp_path):
    for step in (10, 20, 30):
        _save(tmp_path, step, value=step)
    path = latest_checkpoint(tmp_path)
    assert path.name == "step-00000030"
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000020", "step-00000030"]
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], torch.full((3, 2), 30.0))
    assert torch.equal(state["ema"]["w"], torch.full((3, 2), 60.0))
    assert state["train_state"] == TrainState(step=30, stage=2, epoch=1, batch_index=5)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    opt.load_state_dict(state["optimizer"])
    assert opt.state_dict()["state"][0]["exp_avg"].shape == (2,)


def test_truncated_file_detected(tmp_path):
    path = _save(tmp_path, 1)
    f = path / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_corrupt_state_and_missing_file(tmp_path):
    path = _save(tmp_path, 1)
    (path / "ema.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path)
    (path / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_crash_during_save_keeps_previous_latest(tmp_path, monkeypatch):
    _save(tmp_path, 1)
    calls = {"n": 0}
    real = ck.save_file

    def flaky(tensors, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(tensors, path, *a, **k)

    monkeypatch.setattr(ck, "save_file", flaky)
    with pytest.raises(OSError):
        _save(tmp_path, 2)
    assert latest_checkpoint(tmp_path).name == "step-00000001"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary left behind"
    load_checkpoint(latest_checkpoint(tmp_path))


def test_no_pickle_in_checkpoint(tmp_path):
    path = _save(tmp_path, 1)
    for f in path.iterdir():
        assert f.suffix in {".safetensors", ".json"}
    json.loads((path / "state.json").read_text())


def test_ema_averages_parameters_and_copies_buffers():
    from ladd_core.training.optim import EMA

    m = torch.nn.BatchNorm1d(2)  # weight/bias parameters, running stats buffers
    ema = EMA(m, decay=0.5, num_updates=100)  # past the warm-up: d = 0.5
    with torch.no_grad():
        m.weight.fill_(3.0)
        m.running_mean.fill_(7.0)
    ema.update(m)
    assert torch.allclose(ema.shadow["weight"], torch.full((2,), 2.0))  # 0.5 * 1 + 0.5 * 3
    assert torch.equal(ema.shadow["running_mean"], torch.full((2,), 7.0)), "buffers are copied, not averaged"
