"""Objectives: the token-channel loss and its time sampling."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.processes import TokenProcess
from ladd_core.config.base import ComponentConfig

__all__ = ["Objective", "ObjectiveConfig", "TokenLoss", "sample_times"]


class ObjectiveConfig(ComponentConfig):
    """Shared objective fields."""

    time_sampling: Literal["low_discrepancy", "uniform"] = "low_discrepancy"
    t_min: float = Field(1e-4, gt=0.0, lt=1.0, description="times are drawn in [t_min, 1]")
    full_mask_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="share of training rows drawn at t = 1 (every token noised): the few-step regime, where "
        "only a latent can supply cross-token structure. Training only; evaluation draws every time uniformly",
    )


@dataclass(frozen=True)
class TokenLoss:
    """Token-channel loss of a batch.

    Attributes:
        loss: ``(B,)`` per-example training loss (what is optimised).
        nelbo: ``(B,)`` per-example continuous-time NELBO of the token channel in nats (summed over tokens).
        num_tokens: ``(B,)`` scored (non-padding) tokens per example.
    """

    loss: Tensor
    nelbo: Tensor
    num_tokens: Tensor


def sample_times(
    batch_size: int,
    *,
    t_min: float,
    low_discrepancy: bool,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Times in ``[t_min, 1]``, shape ``(B,)``.

    Low-discrepancy (stratified) sampling draws one ``u ~ U[0, 1)`` and spreads
    ``(u + i) / B`` over the batch, which lowers the variance of the batch mean.
    """
    if low_discrepancy:
        u = torch.rand((), generator=generator, device=device)
        t = (u + torch.arange(batch_size, device=device)) / batch_size
    else:
        t = torch.rand(batch_size, generator=generator, device=device)
    return t_min + (1.0 - t_min) * t


class Objective(ABC):
    """Maps per-position log-probabilities to a training loss and the NELBO.

    Args:
        config: the component's ``Config``.
    """

    Config: ClassVar[type[ObjectiveConfig]] = ObjectiveConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ObjectiveConfig) -> None:
        self.config = config

    def sample_times(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """Training times ``(B,)`` according to the config."""
        return sample_times(
            batch_size,
            t_min=self.config.t_min,
            low_discrepancy=self.config.time_sampling == "low_discrepancy",
            device=device,
            generator=generator,
        )

    def training_times(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """:meth:`sample_times` with a random ``full_mask_fraction`` of the rows set to ``t = 1``, ``(B,)``."""
        t = self.sample_times(batch_size, device, generator)
        f = self.config.full_mask_fraction
        if f > 0:
            full = torch.rand(batch_size, generator=generator, device=device) < f  # (B,)
            t = torch.where(full, torch.ones_like(t), t)
        return t

    @abstractmethod
    def __call__(
        self,
        process: TokenProcess,
        log_probs: Tensor,
        x0: Tensor,
        x_t: Tensor,
        t: Tensor,
        attention_mask: Tensor,
    ) -> TokenLoss:
        """Loss from ``log p(x_0 | x_t)`` ``(B, L, C)``, clean ``x0 (B, L)``, noised ``x_t``, times ``t (B,)``."""
