"""Small estimators shared by the metrics: means, ratio estimators and bootstrap spreads."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["bootstrap_stderr", "mean_stderr", "ratio_stderr"]


def mean_stderr(x: Tensor) -> tuple[float, float | None]:
    """Mean of ``x (n,)`` and its standard error ``std / sqrt(n)`` (``None`` when ``n < 2``)."""
    x = x.detach().to(torch.float64).flatten()
    n = x.numel()
    if n == 0:
        return float("nan"), None
    mean = float(x.mean())
    return mean, (float(x.std(unbiased=True)) / math.sqrt(n) if n > 1 else None)


def ratio_of_means(mean: float, se: float | None, ref: float, se_ref: float | None) -> tuple[float, float | None]:
    """``mean / ref`` of two independent estimates and its delta-method standard error."""
    ratio = mean / ref
    if se is None or se_ref is None:
        return ratio, None
    return ratio, abs(ratio) * math.sqrt((se / mean) ** 2 + (se_ref / ref) ** 2)


def ratio_stderr(num: Tensor, den: Tensor) -> tuple[float, float | None]:
    """Ratio estimator ``R = sum(num) / sum(den)`` over units ``(n,)`` and its delta-method standard error.

    Used for token-weighted averages (total NLL / total tokens): each sequence is one unit,
    ``Var(R) ~= sum_i (num_i - R den_i)^2 / (n (n - 1) mean(den)^2)``.
    """
    num = num.detach().to(torch.float64).flatten()
    den = den.detach().to(torch.float64).flatten()
    n = num.numel()
    total = float(den.sum())
    if n == 0 or total <= 0:
        return float("nan"), None
    r = float(num.sum()) / total
    if n < 2:
        return r, None
    resid = num - r * den
    var = float((resid**2).sum()) / (n * (n - 1) * float(den.mean()) ** 2)
    return r, math.sqrt(max(var, 0.0))


def bootstrap_stderr(
    statistic: Callable[[Tensor], float], n: int, reps: int, generator: torch.Generator
) -> float | None:
    """Standard deviation of ``statistic(indices)`` over ``reps`` resamples (with replacement) of ``n`` units.

    Args:
        statistic: maps a long index vector ``(n,)`` into the units to the statistic.
        n: number of units (generated sequences).
        reps: bootstrap replicates (``0`` turns the bootstrap off and returns ``None``).
        generator: seeds the resampling.
    """
    if reps < 2 or n < 2:
        return None
    vals = torch.tensor([statistic(torch.randint(n, (n,), generator=generator)) for _ in range(reps)])
    return float(vals.to(torch.float64).std(unbiased=True))
