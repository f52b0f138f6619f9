"""Latent-health monitoring during training: log the probe's numbers, warn once when the latent fails."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ladd_core.components.data import Batch
from ladd_core.diagnostics import HealthThresholds, assess, latent_health
from ladd_core.model import LaddModel

__all__ = ["HealthMonitor", "still_rising"]

GAIN = "latent_gain_clean_bpt"  # what the encoder has learned, whatever the sampler reads


def still_rising(history: list[tuple[int, float]], min_rise: float = 0.02) -> tuple[float, float] | None:
    """``(earlier, last)`` gains when the latent's use was still clearly rising over a stage's last quarter.

    ``history`` is the stage's ``(step, all-mask gain)`` observations.  The gain at the last one is compared
    with the gain at the observation closest to three quarters of the stage; a rise of more than
    ``min_rise`` bits/token and of more than half the earlier value means the stage ended while the
    latent was still being learned (seen: a Co-LADD encoder frozen at 0.07 bits where it reaches 0.25).
    """
    if len(history) < 3:
        return None
    first, last = history[0][0], history[-1][0]
    target = first + 0.75 * (last - first)
    earlier = min(history[:-1], key=lambda h: abs(h[0] - target))[1]
    end = history[-1][1]
    if end - earlier > min_rise and end - earlier > 0.5 * max(earlier, 0.0):
        return earlier, end
    return None


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
        read_t_y: the latent time the configured sampler reads at its first step (the probe's operating
            point, see :func:`~ladd_core.diagnostics.latent_health`); ``None``: the channel's default.
    """

    def __init__(
        self,
        model: LaddModel,
        after_step: int,
        warn: Callable[[str], None],
        thresholds: HealthThresholds | None = None,
        *,
        read_t_y: float | None = None,
    ) -> None:
        self.model = model
        self.read_t_y = read_t_y
        self.after_step = after_step
        self.warn = warn
        self.thresholds = thresholds or HealthThresholds()
        self.last: dict[str, float] = {}
        self.problems: dict[int, list[str]] = {}  # stage -> problems reported in it (first report only)
        self.history: dict[int, list[tuple[int, float]]] = {}  # stage -> (step, all-mask gain) observations
        self.checked: set[int] = set()  # stages whose end was checked
        self.late: list[str] = []  # stages that ended while the latent was still being learned

    def observe(self, batch: Batch, step: int, stage: int, generator: torch.Generator) -> dict[str, float]:
        """Probe ``batch`` at ``step``; returns the numbers to log (empty without a latent)."""
        health = latent_health(self.model, batch, generator, read_t_y=self.read_t_y)
        if not health:
            return {}
        self.last = health
        self._check_stage_end(stage, step)
        if GAIN in health:
            self.history.setdefault(stage, []).append((step, float(health[GAIN])))
        problems = assess(health, self.thresholds)
        if problems and step >= self.after_step and stage not in self.problems:
            self.problems[stage] = problems
            for p in problems:
                self.warn(f"warning: step {step} (stage {stage}): {p}. See docs/coladd.md, 'Latent health'.")
        return health

    def _check_stage_end(self, stage: int, step: int) -> None:
        """On the first observation of a new stage: was the latent still being learned when the last one ended?"""
        for prev in sorted(p for p in self.history if p < stage and p not in self.checked):
            self.checked.add(prev)
            rise = still_rising(self.history[prev])
            if rise is None:
                continue
            msg = (
                f"stage {prev} ended while the latent's use was still rising (all-mask gain {rise[0]:.3f} -> "
                f"{rise[1]:.3f} bits/token over its last quarter); what the encoder learned is now fixed. A longer "
                "stage (train.stages), a higher encoder learning rate (train.lr_scale) or the latent channel's "
                "anti-collapse switches may help"
            )
            self.late.append(msg)
            self.warn(f"warning: step {step}: {msg}. See docs/coladd.md, 'Latent health'.")

    def summary(self) -> dict[str, object]:
        """``{"latent_health": last numbers, "latent_problems": problems in them}``; empty without a latent."""
        if not self.last:
            return {}
        return {"latent_health": dict(self.last), "latent_problems": assess(self.last, self.thresholds) + self.late}
