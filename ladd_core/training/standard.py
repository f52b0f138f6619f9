"""The standard training callbacks: NaN guard, thread governor, metrics log, validation, health probe, checkpoints.

:func:`standard_callbacks` builds them from ``cfg.train`` in the order the loop runs them; a
:class:`~ladd_core.training.trainer.Trainer` given no callbacks uses it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ladd_core.progress import format_seconds, quiet
from ladd_core.training.callbacks import StepEnd, TrainerCallback
from ladd_core.training.health import HealthMonitor
from ladd_core.training.history import truncate_history
from ladd_core.training.threads import ThreadGovernor

if TYPE_CHECKING:
    from ladd_core.training.trainer import Trainer

__all__ = [
    "Checkpointer",
    "HealthProbe",
    "MetricsLogger",
    "NaNGuard",
    "PeriodicEval",
    "ThreadCheck",
    "TrainingDiverged",
    "standard_callbacks",
]


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN/inf; the last good checkpoint is kept."""


class NaNGuard(TrainerCallback):
    """Stops the run before an update with a non-finite loss or gradient norm (the last checkpoint stays good)."""

    def on_before_update(self, trainer: Trainer, loss: float, grad_norm: torch.Tensor) -> None:
        step = trainer.state.step
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss is {loss} at step {step}; stopped. The last good checkpoint "
                f"is kept in {trainer.ckpt_root} (lower train.lr or enable train.grad_clip)."
            )
        if not torch.isfinite(grad_norm):
            raise TrainingDiverged(
                f"gradient norm is {float(grad_norm)} at step {step}; stopped before the update. "
                f"The last good checkpoint is kept in {trainer.ckpt_root}."
            )


class ThreadCheck(TrainerCallback):
    """Lets an ``"auto"`` thread governor follow the machine's load (a cheap read, every few seconds)."""

    def __init__(self, governor: ThreadGovernor) -> None:
        self.governor = governor

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        self.governor.check()

    def on_train_end(self, trainer: Trainer, result: Mapping[str, Any]) -> None:
        self.governor.restore()


class MetricsLogger(TrainerCallback):
    """Writes ``RUN/metrics.jsonl`` (rank 0) and the progress line every ``every`` steps and at the last one.

    A log step's record holds the step's numbers, the model's diagnostics averaged over ranks (tensor
    logs are reduced here, the only sync), and every callback's :meth:`~TrainerCallback.log_values`.
    Validation results and the final result are written as records of their own.
    """

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every
        self._t0, self._tokens = 0.0, 0

    def _write(self, trainer: Trainer, record: Mapping[str, Any]) -> None:
        if trainer.is_main:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def on_train_start(self, trainer: Trainer, total: int) -> None:
        if trainer.is_main:
            truncate_history(self.path, trainer.state.step, trainer.log)
        self._t0, self._tokens = time.perf_counter(), 0

    def on_stage_change(self, trainer: Trainer, step: int, stage: int) -> None:
        trainer.log(f"step {step}: entering stage {stage} (optimizer rebuilt)")

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        self._tokens += int(event.batch.attention_mask.sum())
        if event.step % self.every and not event.last:
            return
        st, dt = event.stats, time.perf_counter() - self._t0
        rec: dict[str, Any] = {
            "step": event.step,
            "stage": trainer.state.stage,
            "loss": st.loss,
            "nelbo_bpt": st.nelbo_nats / max(st.num_tokens, 1.0) / math.log(2),
            "grad_norm": st.grad_norm,
            "lr": trainer.scheduler.get_last_lr()[0],
            "tokens_per_s": self._tokens / max(dt, 1e-9),
            **trainer.mean_over_ranks({k: float(v) for k, v in st.logs.items()}),  # the only sync
        }
        for cb in trainer.callbacks:
            rec.update(cb.log_values(trainer, event))
        self._write(trainer, rec)
        eta = (event.total - event.step) * dt / max(self.every, 1) if not event.last else 0.0
        if not quiet():  # the training progress line: one per log step, with its ETA
            trainer.log(
                f"step {event.step}/{event.total} loss {rec['loss']:.4f} nelbo {rec['nelbo_bpt']:.3f} bits/tok "
                f"{rec['tokens_per_s']:.0f} tok/s eta {format_seconds(eta)}"
            )
        self._t0, self._tokens = time.perf_counter(), 0

    def on_eval(self, trainer: Trainer, step: int, result: Mapping[str, float]) -> None:
        self._write(trainer, {"step": step, **result})

    def on_train_end(self, trainer: Trainer, result: Mapping[str, Any]) -> None:
        self._write(trainer, {"step": trainer.state.step, "final": True, **result})


class HealthProbe(TrainerCallback):
    """Latent-health numbers in every log record, warnings about a failing latent, their summary at the end."""

    def __init__(self, monitor: HealthMonitor) -> None:
        self.monitor = monitor

    def log_values(self, trainer: Trainer, event: StepEnd) -> Mapping[str, Any]:
        """The probe on this rank's first micro-batch of the step's batch (every rank runs it)."""
        _, part, gen = next(iter(trainer.chunks(event.batch, event.step, "health")))
        return self.monitor.observe(part, event.step, trainer.state.stage, gen)

    def final_values(self, trainer: Trainer) -> Mapping[str, Any]:
        return self.monitor.summary()


class PeriodicEval(TrainerCallback):
    """Validation every ``every`` steps (0: never) and once at the end, for the final result."""

    def __init__(self, every: int) -> None:
        self.every = every

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        if self.every and event.step % self.every == 0:
            result = trainer.evaluate()
            for cb in trainer.callbacks:
                cb.on_eval(trainer, event.step, result)

    def final_values(self, trainer: Trainer) -> Mapping[str, Any]:
        return trainer.evaluate()


class Checkpointer(TrainerCallback):
    """A checkpoint every ``every`` steps, at the last step, and before a signal stops the run."""

    def __init__(self, every: int) -> None:
        self.every = every

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        if event.step % self.every == 0 or event.last or event.stopping:
            path = trainer.save()
            for cb in trainer.callbacks:
                cb.on_checkpoint(trainer, event.step, path)


def standard_callbacks(trainer: Trainer, threads: ThreadGovernor | None = None) -> list[TrainerCallback]:
    """The callbacks of a ``ladd train`` run, from ``trainer.cfg.train``, in the order they run.

    Args:
        trainer: the trainer they serve (its model, run directory and progress printer).
        threads: the run's thread governor, checked after every step (``None``: not checked).
    """
    tc = trainer.cfg.train
    after = tc.health_after if tc.health_after is not None else int(0.4 * tc.max_steps)
    callbacks: list[TrainerCallback] = [NaNGuard()]
    if threads is not None:
        callbacks.append(ThreadCheck(threads))
    callbacks += [
        MetricsLogger(trainer.run_dir / "metrics.jsonl", tc.log_every),
        PeriodicEval(tc.eval_every),  # before the health probe: the final result lists validation first
        HealthProbe(HealthMonitor(trainer.model, after, trainer.log, read_t_y=trainer.latent_read_t_y)),
        Checkpointer(tc.checkpoint_every),
    ]
    return callbacks
