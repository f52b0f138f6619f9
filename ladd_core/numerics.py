"""Numerically careful helpers shared by samplers and objectives."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "NonFiniteError",
    "adjust_log_probs",
    "categorical_index",
    "check_finite",
    "check_sampling_options",
    "sample_categorical",
    "sample_log_categorical",
    "uniform",
]


class NonFiniteError(FloatingPointError):
    """A NaN or infinity where a finite value is required."""


def check_finite(x: Tensor, what: str) -> Tensor:
    """Return ``x`` or raise :class:`NonFiniteError` naming ``what``.

    One float64 sum and one host sync: a NaN or infinity makes the sum non-finite, and a float64 sum of finite
    values of at most float32 range cannot overflow (two kernels, where ``isfinite().all()`` needs three).
    """
    if x.dtype == torch.float64 or not x.is_floating_point():
        ok = bool(torch.isfinite(x).all())  # a float64 sum of finite doubles could overflow
    else:
        ok = math.isfinite(float(x.sum(dtype=torch.float64)))
    if not ok:
        n = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{what} has {n} non-finite value(s) (NaN/inf)")
    return x


def check_sampling_options(temperature: float, top_p: float) -> None:
    """Raise ``ValueError`` unless ``temperature > 0`` and ``0 < top_p <= 1`` (no tensor work)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")


def adjust_log_probs(log_probs: Tensor, temperature: float = 1.0, top_p: float = 1.0) -> Tensor:
    """Temperature and nucleus filtering of normalised log-probs ``(..., C)`` (float64 when either is active).

    Temperature divides the *normalised* log-probs and renormalises; ``top_p``
    keeps the smallest set of classes whose mass reaches ``top_p`` (the top
    class is always kept).
    """
    check_sampling_options(temperature, top_p)
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


def uniform(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Float64 uniforms on ``(0, 1]`` of ``shape`` (``torch.rand``'s ``[0, 1)`` shifted by ``2**-54``), the draws every
    inverse-CDF step consumes: never 0, so ``u / p`` is never ``0 / 0``."""
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float64).add_(2.0**-54)


def categorical_index(weights: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Inverse-CDF class of ``w (...)`` under the rows of non-negative float64 ``weights (..., C)``; and the row
    totals ``(..., 1)``.

    With ``v = w * total`` the class is the first ``j`` with ``cdf_j >= v`` (:func:`_pick`): for ``w`` in ``(0, 1]``
    a draw (a uniform ``w`` gives class ``j`` w.p. ``weights_j / total``; a class of weight 0 is never returned);
    for ``w > 1`` (up to the rounding of ``w * total``) the index ``C``, "no class".  That is how one uniform
    ``u`` both decides an event of probability ``p`` and draws the class: ``w = u / p``.

    Raises:
        NonFiniteError: a row has no positive, finite mass (NaN, inf or all zero).
    """
    cdf = weights.cumsum(dim=-1)  # (..., C)
    total = cdf[..., -1:]  # (..., 1), each >= 0 or NaN
    # One host sync: every total is positive and finite exactly when the sum of their logs is finite (log 0 = -inf,
    # log inf = inf, NaN stays NaN; each log lies in [-745, 710], so the sum cannot overflow).
    if not math.isfinite(float(total.log().sum())):
        raise NonFiniteError(
            "non-finite or empty categorical rows: every row needs a positive, finite total probability "
            "(a NaN or inf in the network output?)"
        )
    return _pick(cdf, w[..., None] * total), total


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw one class per row of ``probs (..., C)`` by inverse CDF in float64.

    Rows need not be exactly normalised (they are rescaled; negative entries count as 0).  Float64
    avoids the low-precision Gumbel bias that inflates sample quality in float32.  A class of
    probability 0 is never drawn.

    Raises:
        NonFiniteError: a row has no positive, finite mass (NaN, inf or all zero).
    """
    p = probs.double().clamp_min(0)
    return categorical_index(p, uniform(p.shape[:-1], generator, p.device))[0]


def sample_log_categorical(log_probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw one class per row of ``exp(log_probs (..., C))`` by inverse CDF in float64.

    The same draw as :func:`sample_categorical` of ``exp(log_probs)`` (rows need not be normalised;
    ``-inf`` is probability 0), without the clamp that ``exp`` makes unnecessary.

    Raises:
        NonFiniteError: a row has no positive, finite mass (a NaN or ``+inf`` log-prob, or all ``-inf``).
    """
    p = (log_probs if log_probs.dtype == torch.float64 else log_probs.double()).exp()
    return categorical_index(p, uniform(p.shape[:-1], generator, p.device))[0]


def _pick(cdf: Tensor, v: Tensor) -> Tensor:
    """The number of ``cdf_j < v`` per row: the first ``j`` with ``cdf_j >= v (..., 1)``, or ``C`` when ``v`` exceeds
    every entry of ``cdf (..., C)``.

    Few classes: counted (a comparison and a sum, kernels a sampling step already runs); many: a binary
    search (no ``(..., C)`` temporary).  Both give the same index.
    """
    if cdf.shape[-1] <= _COUNT_MAX_CLASSES:
        return (cdf < v).sum(dim=-1)  # (...)
    return torch.searchsorted(cdf, v, side="left").squeeze(-1)  # (...)


_COUNT_MAX_CLASSES = 256
"""Up to this many classes :func:`_pick` counts; above, it searches."""
