"""``dit``: the single-stream bidirectional transformer denoiser (MDLM's network)."""

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

__all__ = ["DiT"]


class DiT(Backbone):
    """Bidirectional DiT over token ids: ``x_t (B, L) -> logits (B, L, num_classes)``.

    Token embedding (``spec.num_classes`` rows, data vocabulary plus the mask id)
    -> ``layers`` adaLN-Zero :class:`~ladd_dit.layers.DiTBlock` s with RoPE and
    full attention (padding keys masked) -> adaLN :class:`~ladd_dit.layers.FinalLayer`.

    Conditioning: the blocks always use adaLN driven by ``c = E(t)`` from a
    :class:`~ladd_dit.layers.TimestepEmbedder`.  With ``time_conditioning=False``
    (MDLM's default: the fraction of masked tokens already reveals ``t``) the
    embedder is fed ``t = 0`` for every example, so ``c`` is a learned constant;
    the parameter layout is the same either way, and ``t_x`` is ignored.

    The logits are returned in float32 even under autocast.  No latent stream:
    ``latents`` must be ``None``.
    """

    class Config(BackboneConfig):
        """Configuration of the ``dit`` backbone."""

        name: Literal["dit"] = "dit"
        hidden: int = Field(128, ge=8, description="model width D")
        layers: int = Field(4, ge=1, description="number of transformer blocks")
        heads: int = Field(4, ge=1, description="attention heads; must divide hidden, and hidden/heads must be even")
        cond_dim: int = Field(64, ge=1, description="width of the time-conditioning vector driving adaLN")
        mlp_ratio: float = Field(4.0, gt=0, le=16, description="MLP hidden width as a multiple of hidden")
        dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the residual branches")
        time_conditioning: bool = Field(
            False,
            description="condition on t_x; if false the denoiser is time-independent (the mask ratio reveals t)",
        )
        rope_base: float = Field(10000.0, gt=1.0, description="rotary position embedding base")
        attention: Annotated[ComponentConfig, Ref("attention")] = ref(
            "attention", "sdpa", description="attention kernel: sdpa (default), math (reference), xformers (CUDA)"
        )

        @model_validator(mode="after")
        def _check_heads(self) -> DiT.Config:
            if self.hidden % self.heads:
                raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
            if (self.hidden // self.heads) % 2:
                raise ValueError(f"head width hidden/heads = {self.hidden // self.heads} must be even for RoPE")
            return self

    capabilities = frozenset({"tokens"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec)
        c = config
        self.attn_backend = attention if attention is not None else backend_for(c.attention)
        self.embed = nn.Embedding(spec.num_classes, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.time_embed = TimestepEmbedder(c.cond_dim)
        self.blocks = nn.ModuleList(
            DiTBlock(c.hidden, c.heads, c.cond_dim, c.mlp_ratio, c.dropout, attention=self.attn_backend)
            for _ in range(c.layers)
        )
        self.final = FinalLayer(c.hidden, spec.num_classes, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """``config.time_conditioning``: if false, samplers may reuse predictions across steps."""
        return self.config.time_conditioning

    def _times(self, t_x: Tensor | None, batch: int, device: torch.device) -> Tensor:
        """The ``(B,)`` times fed to the embedder (zeros when not time-conditioned)."""
        if not self.config.time_conditioning:
            return torch.zeros(batch, device=device)
        if t_x is None:
            raise ValueError("dit was configured with time_conditioning=True and needs t_x, got None")
        t = t_x.to(device=device, dtype=torch.float32).reshape(-1)  # (B,) or (1,)
        if t.numel() == 1:
            t = t.expand(batch)  # (B,)
        if t.shape != (batch,):
            raise ValueError(f"t_x must have shape ({batch},) or be a scalar, got {tuple(t_x.shape)}")
        return t

    def forward(
        self,
        tokens: Tensor | None,
        latents: Tensor | None,
        t_x: Tensor | None,
        t_y: Tensor | None,
        attention_mask: Tensor | None = None,
    ) -> BackboneOutput:
        """Predict clean-token logits.

        Args:
            tokens: ``(B, L)`` long ids in ``[0, num_classes)``.
            latents: must be ``None`` (this backbone has no latent stream).
            t_x: token times ``(B,)`` in ``[0, 1]``; used only with ``time_conditioning``.
            t_y: ignored.
            attention_mask: ``(B, L)`` bool, ``True`` at real tokens; padding keys are masked out.

        Returns:
            ``BackboneOutput(token_logits=(B, L, num_classes) float32, latent_out=None)``.
        """
        if latents is not None:
            raise ValueError(
                "the 'dit' backbone has no latent stream and must be called with latents=None; "
                "use a backbone with the 'latent_stream' capability (e.g. 'mmdit') for latent models"
            )
        if tokens is None:
            raise ValueError("the 'dit' backbone needs tokens (B, L), got None")
        batch, length = tokens.shape
        if attention_mask is not None and attention_mask.shape != tokens.shape:
            raise ValueError(f"attention_mask must have shape {tuple(tokens.shape)}, got {tuple(attention_mask.shape)}")
        x = self.embed(tokens)  # (B, L, D)
        cond = self.time_embed(self._times(t_x, batch, tokens.device))  # (B, C)
        positions = torch.arange(length, device=tokens.device)  # (L,)
        rope = rope_cache(positions, self.config.hidden // self.config.heads, self.config.rope_base)  # 2 x (L, Dh)
        key_mask = None if attention_mask is None else attention_mask.to(torch.bool)  # (B, L)
        for block in self.blocks:
            x = block(x, cond, rope=rope, key_mask=key_mask)  # (B, L, D)
        logits = self.final(x, cond).float()  # (B, L, num_classes)
        return BackboneOutput(token_logits=logits, latent_out=None)
