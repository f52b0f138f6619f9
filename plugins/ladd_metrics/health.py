"""``latent-health``: is the latent informative and used? (the training probe, over held-out data)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.diagnostics import assess, latent_health
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_metrics._stats import mean_stderr

__all__ = ["LatentHealth"]


class LatentHealth(ModelMetric):
    """:func:`ladd_core.diagnostics.latent_health` averaged over held-out batches (a model metric).

    Reports ``latent-gain`` (bits per masked token the token network loses when the latent is withheld,
    at training times), ``latent-gain-full`` (the same with every token masked: the N = 1 regime), the
    channel's statistics (``latent-spread`` for Gaussian latents, ``latent-code-perplexity`` for codes) and
    ``latent-problems`` (how many of the collapse/usefulness checks fail).  Diagnostics, never ranked.
    """

    class Config(MetricConfig):
        name: Literal["latent-health"] = "latent-health"
        batches: int = Field(4, ge=1, description="held-out batches to probe")
        batch_size: int = Field(128, ge=2)

    config: Config
    requires = frozenset({"model"})
    not_compared = frozenset(
        {"latent-gain", "latent-gain-full", "latent-spread", "latent-code-perplexity", "latent-problems"}
    )

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        model = context.model
        if model is None:
            raise MetricNotApplicable("needs the model")
        per: dict[str, list[float]] = {}
        for i, batch in enumerate(context.data.val_batches(self.config.batch_size, self.config.batches)):
            gen = torch.Generator(device=model.device).manual_seed(1000 + i)
            for k, v in latent_health(model, batch.to(model.device), gen).items():
                per.setdefault(k, []).append(v)
        if not per:
            raise MetricNotApplicable("the model has no latent channel (or no validation data)")
        means = {k: sum(v) / len(v) for k, v in per.items()}
        out = {}
        units = {"latent_gain_bpt": "bits/token", "latent_gain_full_bpt": "bits/token"}
        names = {"latent_gain_bpt": "latent-gain", "latent_gain_full_bpt": "latent-gain-full"}
        for k, values in per.items():
            m, se = mean_stderr(torch.tensor(values, dtype=torch.float64))
            out[names.get(k, k.replace("_", "-"))] = MetricValue(m, se, units.get(k, ""), True)
        out["latent-problems"] = MetricValue(float(len(assess(means))), None, "checks failed", False)
        return out
