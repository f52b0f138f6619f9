"""What the training loop calls: the :class:`TrainerCallback` hooks and the events they receive.

The loop itself only draws batches and takes optimiser steps.  Everything that happens *at*
certain steps -- logging, validation, checkpoints, latent-health probes, the thread governor,
the NaN guard -- is a callback that decides its own timing (see :mod:`ladd_core.training.standard`).
Callbacks run in list order on every process (a callback that writes files checks
``trainer.is_main``); a hook that takes part in a collective must be called on every rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ladd_core.components.data import Batch
from ladd_core.training.stats import StepStats

if TYPE_CHECKING:
    from ladd_core.training.trainer import Trainer

__all__ = ["StepEnd", "TrainerCallback"]


@dataclass(frozen=True)
class StepEnd:
    """One finished optimiser step.

    Attributes:
        step: optimiser steps done (the step just taken is ``step - 1``; a checkpoint now holds ``step``).
        total: the step the run trains to.
        batch: the global batch the step consumed (every rank holds the same).
        stats: the step's reduced numbers (``stats.logs`` may hold 0-dim tensors: reduce them only to log).
        stopping: a stop signal arrived; the loop ends after this step's callbacks.
    """

    step: int
    total: int
    batch: Batch
    stats: StepStats
    stopping: bool = False

    @property
    def last(self) -> bool:
        """This is the run's final step."""
        return self.step == self.total


class TrainerCallback:
    """Hooks of the training loop; every hook does nothing by default.

    Override the hooks a callback needs.  Two hooks *contribute* values rather than act:
    :meth:`log_values` (numbers for a log step's record) and :meth:`final_values` (entries of the
    run's final result).
    """

    def on_train_start(self, trainer: Trainer, total: int) -> None:
        """Before the first step of :meth:`Trainer.train` (``trainer.state.step`` is where it resumes)."""

    def on_before_update(self, trainer: Trainer, loss: float, grad_norm: torch.Tensor) -> None:
        """After the backward pass and the gradient all-reduce, before the optimiser update (raise to stop it)."""

    def on_stage_change(self, trainer: Trainer, step: int, stage: int) -> None:
        """The run entered training stage ``stage`` at ``step`` (its optimiser was just rebuilt)."""

    def on_step_end(self, trainer: Trainer, event: StepEnd) -> None:
        """After every optimiser step."""

    def log_values(self, trainer: Trainer, event: StepEnd) -> Mapping[str, Any]:
        """Numbers to add to the record of a log step (called by the callback that logs)."""
        return {}

    def on_eval(self, trainer: Trainer, step: int, result: Mapping[str, float]) -> None:
        """A periodic validation at ``step`` gave ``result``."""

    def on_checkpoint(self, trainer: Trainer, step: int, path: Path | None) -> None:
        """A checkpoint of ``step`` was written to ``path`` (``None`` on ranks that do not write)."""

    def final_values(self, trainer: Trainer) -> Mapping[str, Any]:
        """Entries of the run's final result (called once after the last step)."""
        return {}

    def on_train_end(self, trainer: Trainer, result: Mapping[str, Any]) -> None:
        """The run reached its last step; ``result`` gathers every callback's :meth:`final_values`."""
