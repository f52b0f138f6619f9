"""``transformer``: a trainable bidirectional transformer encoder ``x_0 -> (B, K, d)`` (LADD's small-scale encoder)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_core.nn import FinalLayer, TransformerBlock, check_heads, rope_table

__all__ = ["TransformerEncoder", "last_real_positions"]


def last_real_positions(attention_mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Indices of the last ``k`` real positions of every row, in sequence order.

    Args:
        attention_mask: ``(B, L)`` bool, ``True`` at real tokens (any layout, not only right padding).
        k: number of slots ``K``.

    Returns:
        ``(index, valid)``, each ``(B, K)``: ``index[b, j]`` is the position feeding slot ``j``;
        a row with ``n < K`` real tokens fills slots ``0..n-1`` and has ``valid`` false (and a
        dummy index) in the rest.
    """
    mask = attention_mask.to(torch.bool)
    batch, length = mask.shape
    pos = torch.arange(length, device=mask.device).expand(batch, length)  # (B, L)
    order = torch.argsort(torch.where(mask, pos, pos + length), dim=1)  # (B, L): real positions first, in order
    n_real = mask.sum(dim=1, keepdim=True)  # (B, 1)
    src = (n_real - k).clamp(min=0) + torch.arange(k, device=mask.device)  # (B, K) ranks among the real positions
    valid = src < n_real  # (B, K)
    index = order.gather(1, src.clamp(max=length - 1))  # (B, K)
    return index, valid


class TransformerEncoder(Encoder):
    """Trainable bidirectional transformer; the outputs at the last ``K`` real positions are the slots.

    Token embedding (``vocab_size + 1`` rows, so the mask id ``vocab_size`` can be fed)
    -> ``layers`` plain pre-LN :class:`~ladd_core.nn.TransformerBlock` s (no conditioning,
    i.e. LADD's constant-time encoder) with RoPE and the key-padding mask -> LayerNorm +
    ``Linear(D, d)`` per position; slot ``j`` is the ``j``-th of the last ``K`` real
    positions (right-padded rows: the last ``K`` non-padding positions).  Rows with
    fewer than ``K`` real tokens get zero vectors in the missing trailing slots.

    ``hide (B, L)``: the input embedding of hidden positions is zeroed, so their token
    ids cannot influence the latent (LADD's ``p_r`` corruption); the positions still
    take part in attention.
    """

    class Config(EncoderConfig):
        """Configuration of the ``transformer`` encoder."""

        name: Literal["transformer"] = "transformer"
        hidden: int = Field(64, ge=8, description="encoder width")
        layers: int = Field(2, ge=1, description="number of transformer blocks")
        heads: int = Field(4, ge=1, description="attention heads; must divide hidden, and hidden/heads must be even")
        normalize: bool = Field(True, description="L2-normalise every slot vector")

        @model_validator(mode="after")
        def _check_heads(self) -> TransformerEncoder.Config:
            check_heads(self.hidden, self.heads)
            return self

    config: Config

    def __init__(self, config: Config, vocab_size: int, seq_len: int) -> None:
        super().__init__(config, vocab_size, seq_len)
        c = config
        self.embed = nn.Embedding(vocab_size + 1, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList(TransformerBlock(c.hidden, c.heads, cond_dim=None) for _ in range(c.layers))
        self.final = FinalLayer(c.hidden, c.dim, cond_dim=None)
        # FinalLayer zero-initialises its projection; an all-zero output would make the
        # L2 normalisation's gradient explode, so start from a random projection instead.
        nn.init.xavier_uniform_(self.final.linear.weight)

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        """Encode clean tokens.

        Args:
            x0: ``(B, L)`` ids in ``[0, vocab_size]``.
            attention_mask: ``(B, L)`` bool, ``True`` at real tokens.
            hide: ``(B, L)`` bool, ``True`` where the token id is withheld, or ``None``.

        Returns:
            ``(B, K, d)`` (unit-norm valid slots when ``normalize``).
        """
        if attention_mask.shape != x0.shape:
            raise ValueError(f"attention_mask must have shape {tuple(x0.shape)}, got {tuple(attention_mask.shape)}")
        c = self.config
        mask = attention_mask.to(torch.bool)  # (B, L)
        h = self.embed(x0)  # (B, L, D)
        if hide is not None:
            h = h * (~hide.to(torch.bool)).unsqueeze(-1).to(h.dtype)  # (B, L, D), hidden rows zeroed
        rope = rope_table(x0.shape[1], c.hidden // c.heads, x0.device)  # 2 x (L, Dh)
        for block in self.blocks:
            h = block(h, rope=rope, key_mask=mask)  # (B, L, D)
        index, valid = last_real_positions(mask, c.num_slots)  # (B, K) each
        h = h.gather(1, index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))  # (B, K, D)
        out = self.final(h)  # (B, K, d); the projection is per position, so selecting first is equivalent
        if c.normalize:
            out = F.normalize(out, dim=-1)  # (B, K, d)
        return out * valid.unsqueeze(-1).to(out.dtype)  # (B, K, d), missing slots zeroed
