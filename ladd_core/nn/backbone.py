"""A backbone made of a stack of :mod:`ladd_core.nn` blocks: its config fields and its forward pass.

Subclasses embed their inputs into one or more streams (:meth:`TransformerBackbone.streams`) and read
their predictions off the final streams (:meth:`TransformerBackbone.heads`); the block loop is here once.
(Not re-exported by :mod:`ladd_core.nn`: this module builds on :mod:`ladd_core.components.backbones`.)
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput, BackboneSpec
from ladd_core.nn.blocks import JointTransformerBlock, Rope, TransformerBlock, check_heads
from ladd_core.nn.rope import rope_table

__all__ = ["BackboneInputs", "Streams", "TransformerBackbone", "TransformerBackboneConfig"]


class TransformerBackboneConfig(BackboneConfig):
    """Fields of a backbone built from :mod:`ladd_core.nn` transformer blocks with adaLN time conditioning."""

    hidden: int = Field(128, ge=8, description="model width D")
    layers: int = Field(4, ge=1, description="number of transformer blocks")
    heads: int = Field(4, ge=1, description="attention heads; must divide hidden, and hidden/heads must be even")
    cond_dim: int = Field(64, ge=1, description="width of the time-conditioning vector driving adaLN")
    mlp_ratio: float = Field(4.0, gt=0, le=16, description="MLP hidden width as a multiple of hidden")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the residual branches")
    rope_base: float = Field(10000.0, gt=1.0, description="rotary position embedding base")

    @model_validator(mode="after")
    def _check_heads(self) -> TransformerBackboneConfig:
        check_heads(self.hidden, self.heads)
        return self


@dataclass(frozen=True)
class BackboneInputs:
    """The arguments of :meth:`Backbone.forward <ladd_core.components.backbones.Backbone.forward>`, as one value."""

    tokens: Tensor | None
    latents: Tensor | None
    t_x: Tensor | None
    t_y: Tensor | None
    attention_mask: Tensor | None


@dataclass(frozen=True)
class Streams:
    """What the blocks run on.

    Attributes:
        xs: one ``(B, L_s, D)`` per stream (one stream: :class:`TransformerBlock` s; several:
            :class:`JointTransformerBlock` s over their concatenation).
        cond: ``(B, C)`` conditioning of every adaLN.
        rope: RoPE tables for the (concatenated) positions.
        key_mask: ``(B, sum L_s)`` bool, ``True`` at visible keys, or ``None``.
    """

    xs: list[Tensor]
    cond: Tensor
    rope: Rope
    key_mask: Tensor | None = None


class TransformerBackbone(Backbone):
    """Template of a backbone whose body is ``config.layers`` blocks: :meth:`streams` -> blocks -> :meth:`heads`.

    Args:
        config: a :class:`TransformerBackboneConfig`.
        spec: the :class:`~ladd_core.components.backbones.BackboneSpec`.
        attention: the attention kernel of every block (``None``: SDPA).
    """

    config: TransformerBackboneConfig
    blocks: nn.ModuleList

    def __init__(
        self, config: TransformerBackboneConfig, spec: BackboneSpec, attention: AttentionBackend | None
    ) -> None:
        super().__init__(config, spec)
        self.attn_backend = attention

    def block_stack(self, block: type[TransformerBlock] | type[JointTransformerBlock]) -> nn.ModuleList:
        """``config.layers`` adaLN-Zero blocks of type ``block`` with this backbone's attention kernel."""
        c = self.config
        return nn.ModuleList(
            block(c.hidden, c.heads, c.cond_dim, c.mlp_ratio, c.dropout, attention=self.attn_backend)
            for _ in range(c.layers)
        )

    def rope_table(self, n: int, device: torch.device) -> Rope:
        """RoPE tables for positions ``0..n-1``, each ``(n, Dh)``."""
        c = self.config
        return rope_table(n, c.hidden // c.heads, device, c.rope_base)  # 2 x (n, Dh), computed once

    @abstractmethod
    def streams(self, inputs: BackboneInputs) -> Streams:
        """Check and embed the inputs: the streams, the conditioning, the positions and the key mask."""

    @abstractmethod
    def heads(self, xs: list[Tensor], cond: Tensor) -> BackboneOutput:
        """The predictions read off the final streams."""

    def forward(
        self,
        tokens: Tensor | None,
        latents: Tensor | None,
        t_x: Tensor | None,
        t_y: Tensor | None,
        attention_mask: Tensor | None = None,
    ) -> BackboneOutput:
        s = self.streams(BackboneInputs(tokens, latents, t_x, t_y, attention_mask))
        xs = s.xs
        for block in self.blocks:
            if isinstance(block, JointTransformerBlock):
                xs = block(xs, s.cond, s.rope, s.key_mask)  # per stream (B, L_s, D)
            else:
                xs = [block(xs[0], s.cond, rope=s.rope, key_mask=s.key_mask)]  # (B, L, D)
        return self.heads(xs, s.cond)
