"""Transformer blocks: pre-LayerNorm attention + MLP with optional adaLN-Zero, a joint multi-stream block,
and the output head.

The attention kernel is injected (an :class:`~ladd_core.components.attention.AttentionBackend`, PyTorch
SDPA when ``None``); positions enter through RoPE tables from :func:`~ladd_core.nn.rope.rope_cache`.
Shape letters: ``B`` batch, ``L`` positions, ``H`` heads, ``Dh`` head width, ``D`` hidden width,
``C`` conditioning width.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ladd_core.components.attention import AttentionBackend
from ladd_core.nn.attention import attention, merge_heads
from ladd_core.nn.conditioning import ada_ln, modulate
from ladd_core.nn.rope import apply_rope

__all__ = [
    "FinalLayer",
    "JointTransformerBlock",
    "Mlp",
    "TransformerBlock",
    "check_heads",
    "embed_mlp",
    "heads_qkv",
]

Rope = tuple[Tensor, Tensor]
"""``(cos, sin)`` tables from :func:`~ladd_core.nn.rope.rope_cache`."""


def check_heads(hidden: int, heads: int) -> None:
    """Raise ``ValueError`` unless ``heads`` divides ``hidden`` with an even head width (RoPE)."""
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    if (hidden // heads) % 2:
        raise ValueError(f"head width hidden/heads = {hidden // heads} must be even for RoPE")


def embed_mlp(in_dim: int, hidden: int) -> nn.Sequential:
    """Vector embedding ``Linear(d, 4H) -> SiLU -> Linear(4H, H)``.

    An MLP rather than a linear map: the first block's LayerNorm would make a linear
    embedding invariant to the scale of the input vector (which may carry the noise level).
    """
    return nn.Sequential(nn.Linear(in_dim, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, hidden))


def heads_qkv(qkv: Tensor, heads: int, rope: Rope | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Queries, keys, values ``(B, H, L, Dh)`` of the projections ``qkv (B, L, 3*H*Dh)`` (``[q | k | v]``).

    With ``rope`` the queries and keys are rotated in one pass (one set of elementwise ops, not two).
    """
    b, n, d3 = qkv.shape
    qkv = qkv.view(b, n, 3, heads, d3 // (3 * heads)).permute(2, 0, 3, 1, 4)  # (3, B, H, L, Dh)
    if rope is None:
        q, k, v = qkv.unbind(0)
        return q, k, v
    q, k = apply_rope(qkv[:2], *rope).unbind(0)  # (B, H, L, Dh) each
    return q, k, qkv[2]


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


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block with RoPE attention and optional adaLN-Zero.

    With ``cond_dim`` the LayerNorms have no affine parameters; a zero-initialised
    ``SiLU -> Linear(C, 6D)`` produces shift/scale/gate for the attention and MLP
    branches, so a fresh block is the identity map.  Without ``cond_dim`` it is a
    plain pre-LN block (affine LayerNorms, no gates).

    The steps of :meth:`forward` (:meth:`modulation`, :meth:`project_qkv`,
    :meth:`attention_residual`, :meth:`mlp_residual`) are public so that a block
    attending jointly over several streams (:class:`JointTransformerBlock`) can use
    one block per stream as the owner of that stream's weights.

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
        self.ada_ln = ada_ln(cond_dim, hidden, 6) if cond_dim is not None else None
        for lin in (self.qkv, self.attn_out, self.mlp.fc1, self.mlp.fc2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def modulation(self, cond: Tensor | None) -> list[Tensor | None]:
        """``[shift1, scale1, gate1, shift2, scale2, gate2]``, each ``(B, 1, D)`` (all ``None`` without adaLN).

        Raises:
            ValueError: ``cond`` is given to a block without adaLN, or missing for one with it.
        """
        if self.ada_ln is None:
            if cond is not None:
                raise ValueError("this block was built without cond_dim but got a cond tensor")
            return [None] * 6
        if cond is None:
            raise ValueError("this block uses adaLN (cond_dim was given) and needs a cond tensor")
        return list(self.ada_ln(cond).unsqueeze(1).chunk(6, dim=-1))  # 6 x (B, 1, D)

    def project_qkv(self, x: Tensor, shift: Tensor | None, scale: Tensor | None) -> Tensor:
        """The ``[q | k | v]`` projection ``(B, L, 3D)`` of the (modulated) first LayerNorm of ``x (B, L, D)``."""
        h = self.norm1(x)
        if shift is not None and scale is not None:
            h = modulate(h, shift, scale)
        return self.qkv(h)

    def _residual(self, x: Tensor, branch: Tensor, gate: Tensor | None) -> Tensor:
        if self.dropout.p > 0:  # p = 0: skip the (identity) dropout call
            branch = self.dropout(branch)
        return x + branch if gate is None else x + gate * branch

    def attention_residual(self, x: Tensor, heads_out: Tensor, gate: Tensor | None) -> Tensor:
        """``x + gate * dropout(attn_out(heads_out))`` for merged attention output ``heads_out (B, L, D)``."""
        return self._residual(x, self.attn_out(heads_out), gate)

    def mlp_residual(self, x: Tensor, shift: Tensor | None, scale: Tensor | None, gate: Tensor | None) -> Tensor:
        """``x + gate * dropout(mlp(modulate(norm2(x), shift, scale)))``, ``(B, L, D)``."""
        h = self.norm2(x)
        if shift is not None and scale is not None:
            h = modulate(h, shift, scale)
        return self._residual(x, self.mlp(h), gate)

    def forward(
        self,
        x: Tensor,
        cond: Tensor | None = None,
        rope: Rope | None = None,
        key_mask: Tensor | None = None,
    ) -> Tensor:
        """Apply the block.

        Args:
            x: ``(B, L, D)``.
            cond: ``(B, C)`` raw conditioning (the block applies SiLU); required iff built with ``cond_dim``.
            rope: ``(cos, sin)`` from :func:`~ladd_core.nn.rope.rope_cache` for these ``L`` positions, or ``None``.
            key_mask: ``(B, L)`` bool, ``True`` at real tokens.

        Returns:
            ``(B, L, D)``.
        """
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)
        q, k, v = heads_qkv(self.project_qkv(x, shift1, scale1), self.heads, rope)  # 3 x (B, H, L, Dh)
        out = merge_heads(attention(q, k, v, key_mask, self.attn_backend))  # (B, L, D)
        x = self.attention_residual(x, out, gate1)
        return self.mlp_residual(x, shift2, scale2, gate2)


class JointTransformerBlock(nn.Module):
    """Several streams with their own adaLN-Zero weights and one joint attention (SD3's MM-DiT block).

    Each stream owns a :class:`TransformerBlock` (attribute named after the stream) used as the
    container of its weights (norms, qkv, attention-out, MLP, 6-way adaLN); the queries of every
    stream attend to the keys of all of them over the concatenated sequence.  A fresh block is
    the identity on every stream.

    Args:
        hidden: ``D``.
        heads: attention heads.
        cond_dim: conditioning width ``C``.
        mlp_ratio: MLP width multiplier.
        dropout: dropout on the residual branches.
        attention: the attention backend of the joint attention (``None``: SDPA).
        streams: the streams' names, in concatenation order (attribute names of their blocks).
    """

    def __init__(
        self,
        hidden: int,
        heads: int,
        cond_dim: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention: AttentionBackend | None = None,
        streams: Sequence[str] = ("x", "y"),
    ) -> None:
        super().__init__()
        self.heads = heads
        self.attn_backend = attention
        self.streams = tuple(streams)
        for name in self.streams:
            self.add_module(name, TransformerBlock(hidden, heads, cond_dim, mlp_ratio=mlp_ratio, dropout=dropout))

    def forward(self, xs: Sequence[Tensor], cond: Tensor, rope: Rope, key_mask: Tensor | None) -> list[Tensor]:
        """Apply the block.

        Args:
            xs: one ``(B, L_s, D)`` per stream, in :attr:`streams` order.
            cond: ``(B, C)`` raw conditioning (SiLU applied inside the adaLN).
            rope: ``(cos, sin)`` for the concatenated positions, each ``(sum L_s, Dh)``.
            key_mask: ``(B, sum L_s)`` bool, ``True`` at visible keys, or ``None``.

        Returns:
            The updated streams.
        """
        blocks: list[TransformerBlock] = [getattr(self, name) for name in self.streams]
        mods = [blk.modulation(cond) for blk in blocks]  # per stream 6 x (B, 1, D)
        qkv = torch.cat([blk.project_qkv(x, m[0], m[1]) for blk, x, m in zip(blocks, xs, mods)], dim=1)  # (B, N, 3D)
        q, k, v = heads_qkv(qkv, self.heads, rope)  # 3 x (B, H, N = sum L_s, Dh)
        out = merge_heads(attention(q, k, v, key_mask, self.attn_backend))  # (B, sum L_s, D)
        outs = out.split([x.shape[1] for x in xs], dim=1)  # (B, L_s, D) each
        xs = [blk.attention_residual(x, o, m[2]) for blk, x, o, m in zip(blocks, xs, outs, mods)]
        return [blk.mlp_residual(x, m[3], m[4], m[5]) for blk, x, m in zip(blocks, xs, mods)]


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
        self.ada_ln = ada_ln(cond_dim, hidden, 2) if cond_dim is not None else None

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """``(B, L, D)`` (and ``(B, C)`` cond when adaLN is on) -> ``(B, L, out_dim)``."""
        h = self.norm(x)
        if self.ada_ln is not None:
            if cond is None:
                raise ValueError("this FinalLayer uses adaLN (cond_dim was given) and needs a cond tensor")
            shift, scale = self.ada_ln(cond).chunk(2, dim=-1)  # 2 x (B, D)
            h = modulate(h, shift, scale)
        return self.linear(h)
