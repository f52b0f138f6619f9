"""``codebook``: how a discrete-code latent uses its codebook on held-out data."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.latents import CodeChannel, code_usage
from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.evaluation.context import MetricNotApplicable

__all__ = ["CodebookUsage"]


class CodebookUsage(ModelMetric):
    """Codebook use of a ``"codes"`` latent (Di-LADD) over held-out sequences, encoded deterministically.

    Unlike the per-batch training logs (``vq_utilisation`` is capped at ``B K / C`` by the batch), this
    counts codes over ``sequences`` held-out sequences.  Reports ``code-utilisation``,
    ``code-perplexity``, ``code-unique`` and the number of sequences encoded (``code-sequences``); all
    are diagnostics, never ranked between models.  A model metric: no samples.
    """

    class Config(MetricConfig):
        name: Literal["codebook"] = "codebook"
        sequences: int = Field(1024, ge=1, description="held-out sequences to encode (fewer if the split is smaller)")
        batch_size: int = Field(128, ge=1)

    config: Config
    requires = frozenset({"model", "codes"})
    not_compared = frozenset({"code-utilisation", "code-perplexity", "code-unique", "code-sequences"})

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        model = context.model
        latent = getattr(model, "latent", None)
        if not isinstance(latent, CodeChannel):
            raise MetricNotApplicable("the model's latent channel does not implement CodeChannel")
        cfg = self.config
        n_batches = -(-cfg.sequences // cfg.batch_size)
        chunks = []
        for batch in context.data.val_batches(cfg.batch_size, n_batches):
            b = batch.to(model.device)  # type: ignore[union-attr]
            chunks.append(latent.encode_codes(b.tokens, b.attention_mask).cpu())
        if not chunks:
            raise MetricNotApplicable("the data source has no validation sequences")
        codes = torch.cat(chunks)[: cfg.sequences]  # (N, K)
        u = code_usage(codes, latent.num_codes)
        return {
            "code-utilisation": MetricValue(u["utilisation"], None, "share of C", True),
            "code-perplexity": MetricValue(u["perplexity"], None, "codes", True),
            "code-unique": MetricValue(u["unique"], None, "share of sequences", True),
            "code-sequences": MetricValue(float(codes.shape[0]), None, "sequences", True),
        }
