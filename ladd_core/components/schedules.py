"""Noise schedules: the signal level ``alpha(t)`` of a forward process.

One abstraction serves both channels.  For the masked token process
``alpha(t)`` is the probability that a token is still unmasked at time ``t``;
for a variance-preserving Gaussian latent it is the signal *power*
``abar(t)**2`` (so ``sigma_bar(t)**2 = 1 - alpha(t)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.config.base import ComponentConfig

__all__ = ["Schedule", "ScheduleConfig"]


class ScheduleConfig(ComponentConfig):
    """Shared schedule fields."""

    eps: float = Field(1e-4, ge=0.0, lt=0.5, description="clip: alpha = (1-2eps)*a(t) + eps")


class Schedule(ABC):
    """Monotone decreasing ``alpha: [0, 1] -> (0, 1]`` with ``alpha(0) ~ 1``, ``alpha(1) ~ 0``.

    Subclasses implement :meth:`alpha` and :meth:`alpha_derivative` (analytic,
    used by continuous-time ELBO weights).  :meth:`inverse` is optional and
    advertised through ``"invertible" in capabilities``.

    Args:
        config: the component's validated ``Config``.
    """

    Config: ClassVar[type[ScheduleConfig]] = ScheduleConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ScheduleConfig) -> None:
        self.config = config

    @staticmethod
    def check_times(t: Tensor) -> Tensor:
        """Raise ``ValueError`` for times outside ``[0, 1]`` or non-finite; return ``t``."""
        if not bool(((t >= 0) & (t <= 1)).all()):  # one host sync; NaN fails both comparisons, +-inf one
            bad = t[~torch.isfinite(t) | (t < 0) | (t > 1)].flatten()[:3].tolist()
            raise ValueError(f"schedule times must lie in [0, 1], got e.g. {bad}")
        return t

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """Signal level at ``t`` (same shape as ``t``)."""

    @abstractmethod
    def alpha_derivative(self, t: Tensor) -> Tensor:
        """``d alpha / d t`` at ``t`` (``<= 0``)."""

    def inverse(self, alpha: Tensor) -> Tensor:
        """``t`` such that ``alpha(t) == alpha``; only for ``"invertible"`` schedules."""
        raise NotImplementedError(f"{type(self).__name__} is not invertible")

    def masked_elbo_weight(self, t: Tensor) -> Tensor:
        """Continuous-time NELBO weight ``-alpha'(t) / (1 - alpha(t))`` of an absorbing process (``>= 0``)."""
        t = self.check_times(t)
        a = self.alpha(t)
        return -self.alpha_derivative(t) / (1.0 - a).clamp_min(torch.finfo(a.dtype).tiny)
