"""Latent-health monitoring during training: log the probe's numbers, warn once when the latent fails."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ladd_core.components.data import Batch
from ladd_core.diagnostics import HealthThresholds, assess, latent_health
from ladd_core.model import LaddModel

__all__ = ["HealthMonitor"]


class HealthMonitor:
    """Runs :func:`~ladd_core.diagnostics.latent_health` at log steps and warns about a failing latent.

    A warning is printed at most once per training stage, and only from ``after_step`` on (a latent
    cannot be useful before the model has learned anything).  :meth:`summary` gives the last numbers
    and every problem reported, for the run's final record.

    Args:
        model: the (unwrapped) model.
        after_step: first step at which problems are reported.
        warn: where warnings go (e.g. stderr on rank 0).
        thresholds: the collapse/usefulness rule.
    """

    def __init__(
        self,
        model: LaddModel,
        after_step: int,
        warn: Callable[[str], None],
        thresholds: HealthThresholds | None = None,
    ) -> None:
        self.model = model
        self.after_step = after_step
        self.warn = warn
        self.thresholds = thresholds or HealthThresholds()
        self.last: dict[str, float] = {}
        self.problems: dict[int, list[str]] = {}  # stage -> problems reported in it (first report only)

    def observe(self, batch: Batch, step: int, stage: int, generator: torch.Generator) -> dict[str, float]:
        """Probe ``batch`` at ``step``; returns the numbers to log (empty without a latent)."""
        health = latent_health(self.model, batch, generator)
        if not health:
            return {}
        self.last = health
        problems = assess(health, self.thresholds)
        if problems and step >= self.after_step and stage not in self.problems:
            self.problems[stage] = problems
            for p in problems:
                self.warn(f"warning: step {step} (stage {stage}): {p}. See docs/coladd.md, 'Latent health'.")
        return health

    def summary(self) -> dict[str, object]:
        """``{"latent_health": last numbers, "latent_problems": problems in them}``; empty without a latent."""
        if not self.last:
            return {}
        return {"latent_health": dict(self.last), "latent_problems": assess(self.last, self.thresholds)}
