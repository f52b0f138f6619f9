"""Variance-preserving Gaussian diffusion algebra on a :class:`~ladd_core.components.schedules.Schedule`.

The schedule's ``alpha(t)`` is the signal power ``abar(t)**2``; ``sigma_bar(t)**2 = 1 - alpha(t)``.
Forward: ``y_t = abar(t) y_0 + sigma_bar(t) z``.  For ``s < t``::

    alpha_{t|s}^2 = abar_t^2 / abar_s^2,   sigma_{t|s}^2 = sigma_bar_t^2 - alpha_{t|s}^2 sigma_bar_s^2
    q(y_s | y_t, y_0) = N(mu, var),
    mu  = (alpha_{t|s} sigma_bar_s^2 / sigma_bar_t^2) y_t + (abar_s sigma_{t|s}^2 / sigma_bar_t^2) y_0
    var = sigma_{t|s}^2 sigma_bar_s^2 / sigma_bar_t^2

Times are ``(B,)`` tensors; every function broadcasts them over the trailing
dimensions of the latent ``(B, ...)``.  Computations run in the dtype of the
times (use float64 for sampling).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ladd_core.components.schedules import Schedule

__all__ = ["VP", "ddim_step", "posterior_coeffs", "shift_time", "shift_time_derivative", "signal_noise", "x0_from_eps"]


def _bc(v: Tensor, like: Tensor) -> Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` matching ``like``'s rank, in ``like``'s dtype."""
    return v.to(like.dtype).reshape(v.shape[0], *([1] * (like.ndim - 1)))


class VP:
    """VP coefficients of ``schedule`` (``alpha = abar**2``).

    Args:
        schedule: the latent schedule.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def abar2(self, t: Tensor) -> Tensor:
        """Signal power ``abar(t)**2``, shape of ``t``."""
        return self.schedule.alpha(t)

    def coeffs(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(abar(t), sigma_bar(t))``, shape of ``t``."""
        return signal_noise(self.abar2(t))

    def snr(self, t: Tensor) -> Tensor:
        """``abar^2 / sigma_bar^2``."""
        a2 = self.abar2(t)
        return a2 / (1.0 - a2)

    def snr_derivative(self, t: Tensor) -> Tensor:
        """``d SNR / dt = alpha'(t) / (1 - alpha(t))**2`` (``<= 0``)."""
        a2 = self.abar2(t)
        return self.schedule.alpha_derivative(t) / (1.0 - a2) ** 2

    def marginal(self, y0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``y_t = abar(t) y0 + sigma_bar(t) noise``."""
        a, s = self.coeffs(t)
        return _bc(a, y0) * y0 + _bc(s, y0) * noise

    def x0_from_eps(self, y_t: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """``y0 = (y_t - sigma_bar eps) / abar``."""
        a, s = self.coeffs(t)
        return x0_from_eps(y_t, eps, _bc(a, y_t), _bc(s, y_t))

    def eps_from_x0(self, y_t: Tensor, y0: Tensor, t: Tensor) -> Tensor:
        """``eps = (y_t - abar y0) / sigma_bar``."""
        a, s = self.coeffs(t)
        return (y_t - _bc(a, y_t) * y0) / _bc(s, y_t)

    def posterior(self, y_t: Tensor, y0: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Mean ``(B, ...)`` and variance ``(B,)`` of ``q(y_s | y_t, y_0)`` for ``s < t``."""
        c_t, c_0, var = posterior_coeffs(self.abar2(t), self.abar2(s))
        return _bc(c_t, y_t) * y_t + _bc(c_0, y0) * y0, var

    def ddim(self, y_t: Tensor, y0_hat: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """Deterministic DDIM step ``abar_s y0_hat + sigma_bar_s (y_t - abar_t y0_hat) / sigma_bar_t``."""
        a_t, s_t = self.coeffs(t)
        a_s, s_s = self.coeffs(s)
        return ddim_step(y_t, y0_hat, *(_bc(c, y_t) for c in (a_t, s_t, a_s, s_s)))

    def ancestral(
        self, y_t: Tensor, y0_hat: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """A draw from ``q(y_s | y_t, y0_hat)``."""
        mean, var = self.posterior(y_t, y0_hat, t, s)
        z = torch.randn(y_t.shape, generator=generator, device=y_t.device, dtype=y_t.dtype)
        return mean + _bc(var.sqrt(), y_t) * z


# The formulas on coefficients already evaluated (any broadcastable shape): the VP methods above evaluate the
# schedule at their times and call these; a sampler on a fixed grid evaluates it once for every step.


def posterior_coeffs(a2_t: Tensor, a2_s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(c_t, c_0, var)`` of ``q(y_s | y_t, y_0) = N(c_t y_t + c_0 y_0, var)`` from ``abar_t^2``, ``abar_s^2``."""
    v_t, v_s = 1.0 - a2_t, 1.0 - a2_s
    a_ts2 = a2_t / a2_s
    v_ts = (v_t - a_ts2 * v_s).clamp_min(0.0)  # sigma_{t|s}^2
    return a_ts2.sqrt() * v_s / v_t, a2_s.sqrt() * v_ts / v_t, v_ts * v_s / v_t


def signal_noise(a2: Tensor) -> tuple[Tensor, Tensor]:
    """``(abar, sigma_bar)`` from ``abar^2``."""
    return a2.sqrt(), (1.0 - a2).clamp_min(0.0).sqrt()


def x0_from_eps(y_t: Tensor, eps: Tensor, a_t: Tensor, s_t: Tensor) -> Tensor:
    """``y0 = (y_t - sigma_bar_t eps) / abar_t``."""
    return (y_t - s_t * eps) / a_t


def ddim_step(y_t: Tensor, y0_hat: Tensor, a_t: Tensor, s_t: Tensor, a_s: Tensor, s_s: Tensor) -> Tensor:
    """``abar_s y0_hat + sigma_bar_s (y_t - abar_t y0_hat) / sigma_bar_t``."""
    return a_s * y0_hat + s_s * ((y_t - a_t * y0_hat) / s_t)


def shift_time(t: Tensor, a: float) -> Tensor:
    """SD3-style shift ``t' = a t / (1 + (a - 1) t)`` (``a < 1`` moves times toward less noise)."""
    return a * t / (1.0 + (a - 1.0) * t)


def shift_time_derivative(t: Tensor, a: float) -> Tensor:
    """``d t' / d t = a / (1 + (a - 1) t)**2``."""
    return a / (1.0 + (a - 1.0) * t) ** 2
