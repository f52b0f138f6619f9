"""What one optimiser step reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["StepStats"]


@dataclass
class StepStats:
    """One optimiser step, reduced over micro-batches and processes (global-batch means).

    Attributes:
        loss: mean training loss.
        nelbo_nats: summed token NELBO (nats).
        num_tokens: summed scored tokens.
        grad_norm: global gradient norm before clipping.
        logs: the model's diagnostics, averaged over micro-batches (this process only).
    """

    loss: float
    nelbo_nats: float
    num_tokens: float
    grad_norm: float
    logs: dict[str, Any] = field(default_factory=dict)  # floats or 0-dim tensors
