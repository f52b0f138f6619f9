"""``latent-dit``: single-stream DiT over the K latent slots (the latent denoiser of sequential Co-LADD)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_attention.backends import backend_for
from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput, BackboneSpec
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_dit.layers import DiTBlock, FinalLayer, TimestepEmbedder, rope_cache
from ladd_mmdit.mmdit import check_heads, latent_mlp, times_or_zero

__all__ = ["LatentDiT"]


class LatentDiT(Backbone):
    """Latent-only denoiser ``g(y_t (B, K, d_in), t_y) -> (B, K, d_out)``; it never sees tokens.

    Patch embedding of each slot (``Linear(d_in, D)`` by default, or the MM-DiT's
    :func:`~ladd_mmdit.mmdit.latent_mlp`) -> ``layers`` adaLN-Zero
    :class:`~ladd_dit.layers.DiTBlock` s with RoPE over the slot positions ``0..K-1``,
    conditioned on ``E_y(t_y)`` only -> adaLN :class:`~ladd_dit.layers.FinalLayer` to
    ``spec.latent_out_dim``.
    """

    class Config(BackboneConfig):
        """Configuration of the ``latent-dit`` backbone."""

        name: Literal["latent-dit"] = "latent-dit"
        hidden: int = Field(128, ge=8, description="model width D")
        layers: int = Field(4, ge=1, description="number of transformer blocks")
        heads: int = Field(4, ge=1, description="attention heads; must divide hidden, and hidden/heads must be even")
        cond_dim: int = Field(64, ge=1, description="width of the t_y conditioning vector driving adaLN")
        mlp_ratio: float = Field(4.0, gt=0, le=16, description="MLP hidden width as a multiple of hidden")
        dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the residual branches")
        patch_embed: Literal["linear", "mlp"] = Field(
            "linear", description="slot embedding: Linear(d, D) (as in LADD) or the MM-DiT's Linear-SiLU-Linear MLP"
        )
        rope_base: float = Field(10000.0, gt=1.0, description="rotary position embedding base")
        attention: Annotated[ComponentConfig, Ref("attention")] = ref(
            "attention", "sdpa", description="attention kernel: sdpa (default), math (reference), xformers (CUDA)"
        )

        @model_validator(mode="after")
        def _check_heads(self) -> LatentDiT.Config:
            check_heads(self.hidden, self.heads)
            return self

    capabilities = frozenset({"latent_only"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec)
        if spec.num_slots < 1 or spec.latent_in_dim < 1 or spec.latent_out_dim < 1:
            raise ValueError(
                "the 'latent-dit' backbone needs a latent channel (spec.num_slots, latent_in_dim and "
                f"latent_out_dim >= 1), got {spec}"
            )
        c = config
        self.attn_backend = attention if attention is not None else backend_for(c.attention)
        if c.patch_embed == "linear":
            self.latent_embed: nn.Module = nn.Linear(spec.latent_in_dim, c.hidden)
        else:
            self.latent_embed = latent_mlp(spec.latent_in_dim, c.hidden)
        self.time_y = TimestepEmbedder(c.cond_dim)
        self.blocks = nn.ModuleList(
            DiTBlock(c.hidden, c.heads, c.cond_dim, c.mlp_ratio, c.dropout, attention=self.attn_backend)
            for _ in range(c.layers)
        )
        self.final = FinalLayer(c.hidden, spec.latent_out_dim, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """Always ``True`` (conditioned on ``t_y``)."""
        return True

    def forward(
        self,
        tokens: Tensor | None,
        latents: Tensor | None,
        t_x: Tensor | None,
        t_y: Tensor | None,
        attention_mask: Tensor | None = None,
    ) -> BackboneOutput:
        """Predict the clean latent.

        Args:
            tokens: ignored (may be ``None``).
            latents: ``(B, K, latent_in_dim)``.
            t_x: ignored.
            t_y: latent times ``(B,)`` (or scalar), required.
            attention_mask: ignored (latent slots are never padded).

        Returns:
            ``BackboneOutput(token_logits=None, latent_out=(B, K, latent_out_dim))``.
        """
        if latents is None:
            raise ValueError("the 'latent-dit' backbone needs latents (B, K, latent_in_dim), got None")
        batch, k_slots, width = latents.shape
        if (k_slots, width) != (self.spec.num_slots, self.spec.latent_in_dim):
            raise ValueError(
                f"latents must have shape (B, {self.spec.num_slots}, {self.spec.latent_in_dim}), "
                f"got {tuple(latents.shape)}"
            )
        c = self.config
        device = latents.device
        first = next(self.latent_embed.parameters())
        y = self.latent_embed(latents.to(first.dtype))  # (B, K, D)
        cond = self.time_y(times_or_zero(t_y, True, batch, device, "t_y"))  # (B, C)
        rope = rope_cache(torch.arange(k_slots, device=device), c.hidden // c.heads, c.rope_base)  # 2 x (K, Dh)
        for block in self.blocks:
            y = block(y, cond, rope=rope)  # (B, K, D)
        return BackboneOutput(token_logits=None, latent_out=self.final(y, cond))  # (B, K, latent_out_dim)
