"""``latent-health``: is the latent informative and used? (the training probe, over held-out data)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.diagnostics import GRID_T_X, GRID_T_Y, assess, grid_key, latent_health
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_metrics._stats import mean_stderr

__all__ = ["LatentHealth"]


def _name(key: str) -> str:
    """A health key as a metric name: ``latent_gain_full_bpt`` -> ``latent-gain-full``."""
    return key.removesuffix("_bpt").replace("_", "-")


class LatentHealth(ModelMetric):
    """:func:`ladd_core.diagnostics.latent_health` averaged over held-out batches (a model metric).

    Reports ``latent-gain`` (bits per masked token the token network loses when the latent is withheld,
    at training times), ``latent-gain-full`` (the same with every token masked -- the N = 1 regime -- with
    the latent at the time the run's configured sampler reads it there), ``latent-gain-clean`` (every token
    masked, the clean latent: what the latent is worth when a sampler delivers it), with ``grid`` the gain
    at every ``(t_x, t_y)`` of :data:`~ladd_core.diagnostics.GRID_T_X` x :data:`~ladd_core.diagnostics.GRID_T_Y`
    (``latent-gain-tx{t_x}-ty{t_y}``), the channel's statistics (``latent-spread`` for Gaussian latents,
    ``latent-code-perplexity`` for codes) and ``latent-problems`` (how many of the collapse/usefulness
    checks fail, at the sampler's operating point).  Diagnostics, never ranked.
    """

    class Config(MetricConfig):
        name: Literal["latent-health"] = "latent-health"
        batches: int = Field(4, ge=1, description="held-out batches to probe")
        batch_size: int = Field(128, ge=2)
        grid: bool = Field(True, description="also report the gain on the (t_x, t_y) grid (6 calls per t_x)")

    config: Config
    requires = frozenset({"model"})
    not_compared = frozenset(
        {
            "latent-gain",
            "latent-gain-full",
            "latent-gain-clean",
            "latent-read-t-y",
            "latent-spread",
            "latent-code-perplexity",
            "latent-problems",
            *(
                _name(grid_key(tx, ty))
                for tx in GRID_T_X
                for ty in GRID_T_Y  # the grid's names, never ranked either
            ),
        }
    )

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        model = context.model
        if model is None:
            raise MetricNotApplicable("needs the model")
        per: dict[str, list[float]] = {}
        for i, batch in enumerate(context.data.val_batches(self.config.batch_size, self.config.batches)):
            gen = torch.Generator(device=model.device).manual_seed(1000 + i)
            health = latent_health(
                model, batch.to(model.device), gen, read_t_y=context.latent_read_t_y, grid=self.config.grid
            )
            for k, v in health.items():
                per.setdefault(k, []).append(v)
        if not per:
            raise MetricNotApplicable("the model has no latent channel (or no validation data)")
        means = {k: sum(v) / len(v) for k, v in per.items()}
        out = {}
        for k, values in per.items():
            m, se = mean_stderr(torch.tensor(values, dtype=torch.float64))
            unit = "bits/token" if k.startswith("latent_gain") else ""
            out[_name(k)] = MetricValue(m, se, unit, True)
        out["latent-problems"] = MetricValue(float(len(assess(means))), None, "checks failed", False)
        return out
