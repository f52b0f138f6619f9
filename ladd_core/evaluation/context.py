"""What metrics share beyond :class:`~ladd_core.components.metrics.EvalContext`: reference data, a skip signal."""

from __future__ import annotations

import torch
from torch import Tensor

from ladd_core.components.metrics import EvalContext

__all__ = ["MetricNotApplicable", "reference_tokens"]


class MetricNotApplicable(Exception):
    """Raised by a metric whose ``requires`` were met but which still cannot score this run.

    The engine logs the message as a notice and goes on (for example a zero-shot file the
    run's tokenizer cannot encode, or a latent model without a valid likelihood bound).
    """


def reference_tokens(context: EvalContext, max_sequences: int) -> tuple[Tensor, Tensor]:
    """The first ``max_sequences`` held-out sequences of the run's data, cached in ``context.references``.

    Args:
        context: the evaluation context.
        max_sequences: how many validation sequences to take at most (all of them when fewer exist).

    Returns:
        ``tokens (R, L)`` long and ``attention_mask (R, L)`` bool, on the CPU.

    Raises:
        MetricNotApplicable: the data source has no validation sequences.
    """
    if max_sequences not in context.references:
        toks, masks, n = [], [], 0
        for batch in context.data.val_batches(min(max_sequences, 256)):
            take = min(batch.tokens.shape[0], max_sequences - n)
            toks.append(batch.tokens[:take].cpu())
            masks.append(batch.attention_mask[:take].cpu())
            n += take
            if n >= max_sequences:
                break
        if n == 0:
            raise MetricNotApplicable("the data source has no validation sequences to compare with")
        context.references[max_sequences] = (torch.cat(toks), torch.cat(masks))
    return context.references[max_sequences]
