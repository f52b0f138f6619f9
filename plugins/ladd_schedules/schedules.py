"""Built-in schedules.  Each is ``alpha(t) = (1 - 2 eps) a(t) + eps`` for a base shape ``a``.

For masked tokens ``alpha`` is the keep probability; for VP Gaussian latents it
is the signal power ``abar(t)**2`` (see :class:`ladd_core.components.schedules.Schedule`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.schedules import Schedule, ScheduleConfig

__all__ = ["CosineSchedule", "LinearSchedule", "LogLinearSchedule", "PolynomialSchedule", "SqrtSchedule"]


class _Clipped(Schedule):
    """``alpha = (1 - 2 eps) a(t) + eps``; subclasses give ``a``, ``a'`` and optionally ``a^{-1}``."""

    def _a(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _da(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _a_inv(self, a: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not invertible")

    def alpha(self, t: Tensor) -> Tensor:
        eps = self.config.eps
        return (1 - 2 * eps) * self._a(self.check_times(t)) + eps

    def alpha_derivative(self, t: Tensor) -> Tensor:
        return (1 - 2 * self.config.eps) * self._da(self.check_times(t))

    def inverse(self, alpha: Tensor) -> Tensor:
        eps = self.config.eps
        slack = 1e-6  # values alpha() itself produces at t = 0, 1 may overshoot by rounding
        if not torch.isfinite(alpha).all() or ((alpha < eps - slack) | (alpha > 1 - eps + slack)).any():
            raise ValueError(f"alpha must lie in [{eps}, {1 - eps}] to be inverted")
        a = ((alpha - eps) / (1 - 2 * eps)).clamp(0.0, 1.0)
        return self._a_inv(a).clamp(0.0, 1.0)


class LinearSchedule(_Clipped):
    """``a(t) = 1 - t``: MDLM's default for tokens (NELBO weight ``1/t``); ``abar^2 = 1 - t`` for latents."""

    class Config(ScheduleConfig):
        name: Literal["linear"] = "linear"

    capabilities = frozenset({"invertible"})

    def _a(self, t: Tensor) -> Tensor:
        return 1 - t

    def _da(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def _a_inv(self, a: Tensor) -> Tensor:
        return 1 - a


class LogLinearSchedule(Schedule):
    """SEDD's log-linear schedule: ``sigma(t) = -log(1 - (1 - eps) t)``, so ``alpha = 1 - (1 - eps) t``.

    Unlike the clipped family, ``alpha(0) = 1`` exactly and ``alpha(1) = eps``.
    """

    class Config(ScheduleConfig):
        name: Literal["loglinear"] = "loglinear"

    capabilities = frozenset({"invertible"})

    def alpha(self, t: Tensor) -> Tensor:
        return 1 - (1 - self.config.eps) * self.check_times(t)

    def alpha_derivative(self, t: Tensor) -> Tensor:
        return torch.full_like(self.check_times(t), -(1 - self.config.eps))

    def inverse(self, alpha: Tensor) -> Tensor:
        return ((1 - alpha) / (1 - self.config.eps)).clamp(0.0, 1.0)


class CosineSchedule(_Clipped):
    """``a(t) = cos^2(pi/2 (t + s) / (1 + s))`` (improved-DDPM cosine; ``s`` = offset)."""

    class Config(ScheduleConfig):
        name: Literal["cosine"] = "cosine"
        offset: float = Field(0.008, ge=0.0, lt=1.0, description="s in cos^2(pi/2 (t+s)/(1+s))")

    capabilities = frozenset({"invertible"})

    def _arg(self, t: Tensor) -> Tensor:
        s = self.config.offset
        return (math.pi / 2) * (t + s) / (1 + s)

    @property
    def _c0(self) -> float:
        """Normaliser ``cos^2(pi/2 s/(1+s))`` in float64, so that ``a(0) = 1`` to rounding."""
        s = self.config.offset
        return math.cos((math.pi / 2) * s / (1 + s)) ** 2

    def _a(self, t: Tensor) -> Tensor:
        return torch.cos(self._arg(t)) ** 2 / self._c0

    def _da(self, t: Tensor) -> Tensor:
        s = self.config.offset
        return -torch.sin(2 * self._arg(t)) * (math.pi / 2) / (1 + s) / self._c0

    def _a_inv(self, a: Tensor) -> Tensor:
        s = self.config.offset
        arg = torch.acos(torch.sqrt((a * self._c0).clamp(0.0, 1.0)))
        return arg * (1 + s) / (math.pi / 2) - s


class SqrtSchedule(_Clipped):
    """``a(t) = sqrt(1 - t)``: the VP latent schedule of the LADD code (``abar^2``)."""

    class Config(ScheduleConfig):
        name: Literal["sqrt"] = "sqrt"

    capabilities = frozenset({"invertible"})

    def _a(self, t: Tensor) -> Tensor:
        return torch.sqrt((1 - t).clamp_min(0.0))

    def _da(self, t: Tensor) -> Tensor:
        return -0.5 / torch.sqrt((1 - t).clamp_min(1e-12))

    def _a_inv(self, a: Tensor) -> Tensor:
        return 1 - a**2


class PolynomialSchedule(_Clipped):
    """``a(t) = 1 - t^p`` (``p = 2`` is the Di-LADD toy's latent schedule)."""

    class Config(ScheduleConfig):
        name: Literal["polynomial"] = "polynomial"
        power: float = Field(2.0, gt=0.0, description="p in 1 - t^p")

    capabilities = frozenset({"invertible"})

    def _a(self, t: Tensor) -> Tensor:
        return 1 - t**self.config.power

    def _da(self, t: Tensor) -> Tensor:
        p = self.config.power
        return -p * t.clamp_min(1e-12) ** (p - 1)

    def _a_inv(self, a: Tensor) -> Tensor:
        return (1 - a).clamp_min(0.0) ** (1 / self.config.power)
