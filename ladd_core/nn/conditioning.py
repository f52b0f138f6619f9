"""Time conditioning of transformer blocks: sinusoidal time embedding and adaLN modulation.

Shape letters: ``B`` batch, ``L`` positions, ``D`` hidden width, ``C`` conditioning width, ``F`` features.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["TimestepEmbedder", "ada_ln", "modulate", "times_or_zero"]


class TimestepEmbedder(nn.Module):
    """Sinusoidal embedding of a raw time ``t in [0, 1]`` followed by an MLP.

    Frequency choice: the ``freq_dim / 2`` angular frequencies are spaced
    geometrically from ``min_freq = 1`` to ``max_freq = 1000`` radians per unit
    time.  ``t`` is *not* rescaled by 1000 (as image DiTs do for integer steps):
    the lowest frequency stays below ``pi`` so ``cos(t)`` is monotone over the
    whole of ``[0, 1]`` (no aliasing between distant times), while the highest
    resolves differences of about ``1e-3``.

    Args:
        cond_dim: output width ``C``.
        freq_dim: number of sinusoidal features (even).
        max_freq: highest angular frequency.
        min_freq: lowest angular frequency.
    """

    def __init__(self, cond_dim: int, freq_dim: int = 256, max_freq: float = 1000.0, min_freq: float = 1.0) -> None:
        super().__init__()
        if freq_dim % 2:
            raise ValueError(f"freq_dim must be even, got {freq_dim}")
        half = freq_dim // 2
        ratio = torch.arange(half, dtype=torch.float32) / max(half - 1, 1)
        freqs = torch.exp(math.log(min_freq) + ratio * (math.log(max_freq) - math.log(min_freq)))  # (F/2,)
        self.register_buffer("freqs", freqs, persistent=False)
        self.freqs: Tensor
        self.mlp = nn.Sequential(nn.Linear(freq_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        for lin in (self.mlp[0], self.mlp[2]):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def features(self, t: Tensor) -> Tensor:
        """``(B,) -> (B, freq_dim)`` float32 ``[cos(w t), sin(w t)]``."""
        angles = t.float().reshape(-1, 1) * self.freqs.float()  # (B, F/2)
        return torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, F)

    def forward(self, t: Tensor) -> Tensor:
        """Embed times.

        Args:
            t: ``(B,)`` (or scalar) times in ``[0, 1]``.

        Returns:
            ``(B, C)`` in the MLP's dtype (or the autocast dtype).
        """
        feats = self.features(t)  # (B, F)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))  # (B, C)


def times_or_zero(t: Tensor | None, use: bool, batch: int, device: torch.device, what: str) -> Tensor:
    """The ``(B,)`` float32 times fed to a :class:`TimestepEmbedder` (zeros when ``use`` is false).

    Args:
        t: ``(B,)`` or scalar times, or ``None``.
        use: whether the network is conditioned on this time.
        batch: ``B``.
        device: target device.
        what: the argument's name for error messages (``"t_x"``, ``"t_y"``).

    Raises:
        ValueError: ``use`` is true and ``t`` is missing or has the wrong shape.
    """
    if not use:
        return torch.zeros(batch, device=device)
    if t is None:
        raise ValueError(f"this backbone is conditioned on {what} and needs it, got None")
    t = t.to(device=device, dtype=torch.float32).reshape(-1)  # (B,) or (1,)
    if t.numel() == 1:
        t = t.expand(batch)  # (B,)
    if t.shape != (batch,):
        raise ValueError(f"{what} must have shape ({batch},) or be a scalar, got {tuple(t.shape)}")
    return t


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation ``x * (1 + scale) + shift``.

    Args:
        x: ``(B, L, D)``.
        shift: ``(B, D)`` (broadcast over ``L``) or ``(B, L, D)``.
        scale: same shape as ``shift``.
    """
    if shift.dim() == x.dim() - 1:
        shift, scale = shift.unsqueeze(1), scale.unsqueeze(1)  # (B, 1, D)
    return x * (1 + scale) + shift


def ada_ln(cond_dim: int, hidden: int, chunks: int) -> nn.Sequential:
    """``SiLU -> Linear(C, chunks*D)``, zero-initialised (adaLN-Zero)."""
    lin = nn.Linear(cond_dim, chunks * hidden)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return nn.Sequential(nn.SiLU(), lin)
