"""The trainer's callbacks: hook order and timing, a loop without them, and the RNG state restored on resume."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from ladd_core.cli.config_cmds import resolve
from ladd_core.config.experiment import ExperimentConfig
from ladd_core.training.callbacks import StepEnd, TrainerCallback
from ladd_core.training.checkpoint import latest_checkpoint, load_checkpoint
from ladd_core.training.factory import build_trainer
from ladd_core.training.standard import MetricsLogger, NaNGuard, standard_callbacks
from ladd_core.training.trainer import Trainer, TrainingInterrupted

SETS = [
    "model.backbone.hidden=16", "model.backbone.layers=1", "model.backbone.heads=2", "model.backbone.cond_dim=8",
    "data.seq_len=32", "data.train_size=256", "data.val_size=32", "train.batch_size=8", "train.log_every=2",
    "train.checkpoint_every=3", "train.eval_every=2", "train.eval_batches=1", "train.threads=1",
    "train.max_steps=4",
]  # fmt: skip


def _cfg(*extra: str) -> ExperimentConfig:
    return resolve("sawtooth-mdlm", [*SETS, *extra])


class _Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_train_start(self, trainer: Trainer, total: int) -> None:
        self.calls.append(("start", total))

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        self.calls.append(("step", event.step))

    def on_eval(self, trainer: Trainer, step: int, result: Any) -> None:
        self.calls.append(("eval", step))

    def on_checkpoint(self, trainer: Trainer, step: int, path: Path | None) -> None:
        self.calls.append(("checkpoint", step))

    def log_values(self, trainer: Trainer, event: StepEnd) -> dict[str, float]:
        return {"recorded": float(event.step)}

    def final_values(self, trainer: Trainer) -> dict[str, Any]:
        return {"recorder": True}


def test_hooks_run_at_the_configured_steps(tmp_path, components) -> None:
    rec = _Recorder()
    trainer = build_trainer(_cfg(), components, tmp_path, log=lambda m: None, callbacks=[])
    trainer.callbacks = [*standard_callbacks(trainer), rec]
    result = trainer.train()
    assert result["recorder"] is True and "val_nelbo_bpt" in result
    assert rec.calls == [  # the recorder runs last: a step's eval and checkpoint come before its own step hook
        ("start", 4),
        ("step", 1),
        ("eval", 2),
        ("step", 2),
        ("checkpoint", 3),
        ("step", 3),
        ("eval", 4),
        ("checkpoint", 4),
        ("step", 4),
    ]
    logged = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert sum('"recorded"' in line for line in logged) == 2  # log steps 2 and 4 carry the contribution


def test_a_loop_without_callbacks_writes_nothing(tmp_path, components) -> None:
    trainer = build_trainer(_cfg(), components, tmp_path, log=lambda m: None, callbacks=[])
    assert trainer.train() == {}
    assert trainer.state.step == 4
    assert not (tmp_path / "metrics.jsonl").exists() and latest_checkpoint(tmp_path / "checkpoints") is None


def test_standard_callbacks_start_with_the_nan_guard(tmp_path, components) -> None:
    trainer = build_trainer(_cfg(), components, tmp_path, log=lambda m: None)
    kinds = [type(cb) for cb in trainer.callbacks]
    assert kinds[0] is NaNGuard and MetricsLogger in kinds


def test_resume_restores_the_saved_torch_rng_state(tmp_path, components) -> None:
    build_trainer(_cfg(), components, tmp_path, log=lambda m: None).train(3)
    saved = load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))["rng"]["torch"]
    torch.manual_seed(12345)
    build_trainer(_cfg(), components, tmp_path, log=lambda m: None)
    assert torch.equal(torch.get_rng_state(), saved)


class _SignalDuringCallbacks(TrainerCallback):
    """Sends SIGTERM to this process from inside ``on_step_end`` at one step (after ``StepEnd`` was built)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        if event.step == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_during_the_callbacks_still_checkpoints_the_step(tmp_path, components):
    """The stop flag read for ``StepEnd`` can miss a signal that lands while the callbacks run; the step is saved."""
    trainer = build_trainer(_cfg(), components, tmp_path, log=lambda m: None)
    trainer.callbacks.insert(0, _SignalDuringCallbacks(at=2))  # before the checkpointer; every=3 skips step 2
    with pytest.raises(TrainingInterrupted):
        trainer.train()
    assert load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))["train_state"].step == 2
