"""Numerically careful helpers shared by samplers and objectives."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["NonFiniteError", "adjust_log_probs", "check_finite", "sample_categorical"]


class NonFiniteError(FloatingPointError):
    """A NaN or infinity where a finite value is required."""


def check_finite(x: Tensor, what: str) -> Tensor:
    """Return ``x`` or raise :class:`NonFiniteError` naming ``what``."""
    if not torch.isfinite(x).all():
        n = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{what} has {n} non-finite value(s) (NaN/inf)")
    return x


def adjust_log_probs(log_probs: Tensor, temperature: float = 1.0, top_p: float = 1.0) -> Tensor:
    """Temperature and nucleus filtering of normalised log-probs ``(..., C)`` (float64 when either is active).

    Temperature divides the *normalised* log-probs and renormalises; ``top_p``
    keeps the smallest set of classes whose mass reaches ``top_p`` (the top
    class is always kept).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
    if temperature == 1.0 and top_p == 1.0:
        return log_probs  # nothing to do; rows are converted to float64 when sampled
    lp = log_probs.double()
    if temperature != 1.0:
        lp = lp - lp.max(dim=-1, keepdim=True).values  # the top class stays at 0 even for a tiny temperature
        lp = torch.log_softmax(lp / temperature, dim=-1)
    if top_p < 1.0:
        sorted_lp, idx = lp.sort(dim=-1, descending=True)
        cum = sorted_lp.exp().cumsum(dim=-1)
        drop_sorted = (cum - sorted_lp.exp()) >= top_p  # mass before this class already reaches top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, idx, drop_sorted)
        lp = torch.log_softmax(lp.masked_fill(drop, float("-inf")), dim=-1)
    return lp


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw one class per row of ``probs (..., C)`` by inverse CDF in float64.

    Rows need not be exactly normalised (they are rescaled).  Float64 avoids the
    low-precision Gumbel bias that inflates sample quality in float32.
    """
    p = probs.double().clamp_min(0)
    cdf = p.cumsum(dim=-1)  # (..., C)
    total = cdf[..., -1:]
    if not bool(((total > 0) & (total < float("inf"))).all()):  # one host sync; NaN fails both
        raise NonFiniteError("categorical probabilities must have a positive, finite sum")
    u = torch.rand((*cdf.shape[:-1], 1), generator=generator, device=cdf.device, dtype=torch.float64) * total
    idx = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # (...)
    return idx.clamp_max(p.shape[-1] - 1)
