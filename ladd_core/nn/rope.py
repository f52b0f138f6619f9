"""Rotary position embedding (rotate-half convention, float32 math).

Shape letters: ``B`` batch, ``H`` heads, ``L`` positions, ``Dh`` head width.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = ["apply_rope", "rope_cache", "rope_table"]


def rope_cache(positions: Tensor, head_dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """Cosine and sine tables for rotary position embedding.

    Pair ``i`` (channels ``i`` and ``i + Dh/2``) rotates by angle ``pos * base**(-2i/Dh)``.

    Args:
        positions: integer or float positions, ``(L,)`` or per-example ``(B, L)``.
        head_dim: ``Dh``; must be even.
        base: RoPE base (larger = longer wavelengths).

    Returns:
        ``(cos, sin)``, each float32 of shape ``positions.shape + (Dh,)`` (both halves repeated).

    Raises:
        ValueError: ``head_dim`` is odd.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    half = head_dim // 2
    inv_freq = base ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)  # (Dh/2,)
    angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq  # (..., L, Dh/2)
    angles = torch.cat([angles, angles], dim=-1)  # (..., L, Dh)
    return angles.cos(), angles.sin()


@functools.lru_cache(maxsize=32)
def _table(n: int, head_dim: int, base: float, device: torch.device) -> tuple[Tensor, Tensor]:
    with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable in training and sampling
        return rope_cache(torch.arange(n, device=device), head_dim, base)


def rope_table(n: int, head_dim: int, device: torch.device, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """:func:`rope_cache` of positions ``0..n-1``, each ``(n, Dh)``, computed once per arguments (read-only).

    Under ``torch.compile`` the tables are computed in the graph instead (never cached from a trace).
    """
    if torch.compiler.is_compiling():
        return rope_cache(torch.arange(n, device=device), head_dim, base)
    return _table(n, head_dim, float(base), torch.device(device))


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)  # (..., Dh/2) each
    return torch.cat([-x2, x1], dim=-1)  # (..., Dh)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` by the angles in ``(cos, sin)`` (computed in float32, returned in ``x.dtype``).

    Args:
        x: ``(B, H, L, Dh)`` queries or keys.
        cos: ``(L, Dh)`` or ``(B, L, Dh)`` from :func:`rope_cache`.
        sin: same shape as ``cos``.

    Returns:
        ``(B, H, L, Dh)``; norms are preserved and ``<rope(q, m), rope(k, n)>`` depends only on ``m - n``.
    """
    if cos.dim() == 3:  # per-example positions
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, L, Dh)
    xf = x.float()
    return (xf * cos + _rotate_half(xf) * sin).to(x.dtype)
