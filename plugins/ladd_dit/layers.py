"""Reusable transformer building blocks for ladd denoisers.

Everything here is backbone-agnostic so the single-stream ``dit``, the
two-stream ``mmdit``, the latent-only ``latent-dit`` and transformer encoders
can share it:

* :func:`rope_cache` / :func:`apply_rope` -- rotary position embedding
  (rotate-half convention, float32 math);
* :func:`attention` -- the one place attention is computed (swap backends here);
* :class:`TimestepEmbedder` -- sinusoidal features of a raw time ``t in [0, 1]`` -> MLP;
* :func:`modulate`, :class:`Mlp`, :class:`DiTBlock` -- adaLN-Zero transformer block;
* :class:`FinalLayer` -- adaLN LayerNorm + zero-initialised projection.

Shape letters: ``B`` batch, ``L`` sequence length, ``H`` heads, ``Dh`` head
width, ``D`` hidden width, ``C`` conditioning width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ladd_attention.backends import sdpa_attention
from ladd_core.components.attention import AttentionBackend

__all__ = [
    "DiTBlock",
    "FinalLayer",
    "Mlp",
    "TimestepEmbedder",
    "apply_rope",
    "attention",
    "merge_heads",
    "modulate",
    "rope_cache",
    "split_heads",
]


# ----------------------------------------------------------------------------- rotary embedding


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


# ----------------------------------------------------------------------------- attention


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``(B, L, H*Dh) -> (B, H, L, Dh)``."""
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)  # (B, H, L, Dh)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, L, Dh) -> (B, L, H*Dh)``."""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)  # (B, L, H*Dh)


def attention(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None, backend: AttentionBackend | None = None
) -> Tensor:
    """Full (bidirectional) scaled dot-product attention with optional key padding.

    The single entry point for attention: the kernel is the ``backend`` (an
    ``attention`` component such as ``sdpa``, ``math`` or ``xformers``), PyTorch's SDPA
    when ``None``.

    Args:
        q: ``(B, H, Lq, Dh)``.
        k: ``(B, H, Lk, Dh)``.
        v: ``(B, H, Lk, Dh)``.
        key_mask: ``(B, Lk)`` bool, ``True`` at real keys; padding keys get no weight.
            A row with no real key attends to every key instead (its output is
            meaningless but finite, so padding cannot produce NaN).
        backend: the attention kernel, or ``None`` for SDPA.

    Returns:
        ``(B, H, Lq, Dh)``.
    """
    if backend is None:
        return sdpa_attention(q, k, v, key_mask)
    return backend(q, k, v, key_mask)


# ----------------------------------------------------------------------------- conditioning


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


def _ada_ln(cond_dim: int, hidden: int, chunks: int) -> nn.Sequential:
    """``SiLU -> Linear(C, chunks*D)``, zero-initialised (adaLN-Zero)."""
    lin = nn.Linear(cond_dim, chunks * hidden)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return nn.Sequential(nn.SiLU(), lin)


# ----------------------------------------------------------------------------- blocks


class Mlp(nn.Module):
    """``Linear(D, r*D) -> GELU(tanh) -> Linear(r*D, D)``.

    Args:
        hidden: ``D``.
        mlp_ratio: width multiplier ``r``.
    """

    def __init__(self, hidden: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        inner = max(1, round(hidden * mlp_ratio))
        self.fc1 = nn.Linear(hidden, inner)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(inner, hidden)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, L, D) -> (B, L, D)``."""
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """Pre-LayerNorm transformer block with RoPE attention and optional adaLN-Zero.

    With ``cond_dim`` the LayerNorms have no affine parameters; a zero-initialised
    ``SiLU -> Linear(C, 6D)`` produces shift/scale/gate for the attention and MLP
    branches, so a fresh block is the identity map.  Without ``cond_dim`` it is a
    plain pre-LN block (affine LayerNorms, no gates).

    Args:
        hidden: ``D``.
        heads: ``H``; must divide ``D``.
        cond_dim: conditioning width ``C`` or ``None``.
        mlp_ratio: MLP width multiplier.
        dropout: dropout on both residual branches.
        attention: the attention backend (``None``: SDPA).
    """

    def __init__(
        self,
        hidden: int,
        heads: int,
        cond_dim: int | None = None,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention: AttentionBackend | None = None,
    ) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.attn_backend = attention
        affine = cond_dim is None
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=affine)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=affine)
        self.mlp = Mlp(hidden, mlp_ratio)
        self.dropout = nn.Dropout(dropout)
        self.ada_ln = _ada_ln(cond_dim, hidden, 6) if cond_dim is not None else None
        for lin in (self.qkv, self.attn_out, self.mlp.fc1, self.mlp.fc2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _attend(self, h: Tensor, rope: tuple[Tensor, Tensor] | None, key_mask: Tensor | None) -> Tensor:
        q, k, v = self.qkv(h).chunk(3, dim=-1)  # 3 x (B, L, D)
        q, k, v = (split_heads(z, self.heads) for z in (q, k, v))  # (B, H, L, Dh)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attention(q, k, v, key_mask, self.attn_backend)  # (B, H, L, Dh)
        return self.attn_out(merge_heads(out))  # (B, L, D)

    def forward(
        self,
        x: Tensor,
        cond: Tensor | None = None,
        rope: tuple[Tensor, Tensor] | None = None,
        key_mask: Tensor | None = None,
    ) -> Tensor:
        """Apply the block.

        Args:
            x: ``(B, L, D)``.
            cond: ``(B, C)`` raw conditioning (the block applies SiLU); required iff built with ``cond_dim``.
            rope: ``(cos, sin)`` from :func:`rope_cache` for these ``L`` positions, or ``None`` for no RoPE.
            key_mask: ``(B, L)`` bool, ``True`` at real tokens.

        Returns:
            ``(B, L, D)``.
        """
        if self.ada_ln is None:
            if cond is not None:
                raise ValueError("this DiTBlock was built without cond_dim but got a cond tensor")
            x = x + self.dropout(self._attend(self.norm1(x), rope, key_mask))
            return x + self.dropout(self.mlp(self.norm2(x)))
        if cond is None:
            raise ValueError("this DiTBlock uses adaLN (cond_dim was given) and needs a cond tensor")
        mods = self.ada_ln(cond)  # (B, 6D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mods.unsqueeze(1).chunk(6, dim=-1)  # 6 x (B, 1, D)
        x = x + gate1 * self.dropout(self._attend(modulate(self.norm1(x), shift1, scale1), rope, key_mask))
        return x + gate2 * self.dropout(self.mlp(modulate(self.norm2(x), shift2, scale2)))


class FinalLayer(nn.Module):
    """Output head: (adaLN) LayerNorm then a zero-initialised ``Linear(D, out_dim)``.

    Args:
        hidden: ``D``.
        out_dim: output width (e.g. number of token classes).
        cond_dim: conditioning width ``C`` for adaLN shift/scale (zero-init), or
            ``None`` for an affine LayerNorm.
    """

    def __init__(self, hidden: int, out_dim: int, cond_dim: int | None = None) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=cond_dim is None)
        self.linear = nn.Linear(hidden, out_dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.ada_ln = _ada_ln(cond_dim, hidden, 2) if cond_dim is not None else None

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """``(B, L, D)`` (and ``(B, C)`` cond when adaLN is on) -> ``(B, L, out_dim)``."""
        h = self.norm(x)
        if self.ada_ln is not None:
            if cond is None:
                raise ValueError("this FinalLayer uses adaLN (cond_dim was given) and needs a cond tensor")
            shift, scale = self.ada_ln(cond).chunk(2, dim=-1)  # 2 x (B, D)
            h = modulate(h, shift, scale)
        return self.linear(h)
