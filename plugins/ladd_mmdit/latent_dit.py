"""``latent-dit``: single-stream DiT over the K latent slots (the latent denoiser of sequential Co-LADD)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor, nn

from ladd_attention.backends import attention_field, backend_for
from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import BackboneOutput, BackboneSpec
from ladd_core.config.base import ComponentConfig, Ref
from ladd_core.nn import FinalLayer, TimestepEmbedder, TransformerBlock, embed_mlp, times_or_zero
from ladd_core.nn.backbone import BackboneInputs, Streams, TransformerBackbone, TransformerBackboneConfig

__all__ = ["LatentDiT"]


class LatentDiT(TransformerBackbone):
    """Latent-only denoiser ``g(y_t (B, K, d_in), t_y) -> (B, K, d_out)``; it never sees tokens.

    Patch embedding of each slot (``Linear(d_in, D)`` by default, or the MM-DiT's
    :func:`~ladd_core.nn.embed_mlp`) -> ``layers`` adaLN-Zero
    :class:`~ladd_core.nn.TransformerBlock` s with RoPE over the slot positions ``0..K-1``,
    conditioned on ``E_y(t_y)`` only -> adaLN :class:`~ladd_core.nn.FinalLayer` to
    ``spec.latent_out_dim``.  Forward: ``latents (B, K, latent_in_dim)`` and ``t_y (B,)``
    (or a scalar), both required; ``tokens``, ``t_x`` and ``attention_mask`` are ignored
    (latent slots are never padded); ``token_logits`` is ``None``.
    """

    class Config(TransformerBackboneConfig):
        """Configuration of the ``latent-dit`` backbone."""

        name: Literal["latent-dit"] = "latent-dit"
        cond_dim: int = Field(64, ge=1, description="width of the t_y conditioning vector driving adaLN")
        patch_embed: Literal["linear", "mlp"] = Field(
            "linear", description="slot embedding: Linear(d, D) (as in LADD) or the MM-DiT's Linear-SiLU-Linear MLP"
        )
        attention: Annotated[ComponentConfig, Ref("attention")] = attention_field()

    capabilities = frozenset({"latent_only"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec, attention if attention is not None else backend_for(config.attention))
        self.check_latent_channel()
        c = config
        if c.patch_embed == "linear":
            self.latent_embed: nn.Module = nn.Linear(spec.latent_in_dim, c.hidden)
        else:
            self.latent_embed = embed_mlp(spec.latent_in_dim, c.hidden)
        self.time_y = TimestepEmbedder(c.cond_dim)
        self.blocks = self.block_stack(TransformerBlock)
        self.final = FinalLayer(c.hidden, spec.latent_out_dim, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """Always ``True`` (conditioned on ``t_y``)."""
        return True

    def streams(self, inputs: BackboneInputs) -> Streams:
        latents = inputs.latents
        batch = self.check_latents(latents)
        device = latents.device
        first = next(self.latent_embed.parameters())
        y = self.latent_embed(latents.to(first.dtype))  # (B, K, D)
        cond = self.time_y(times_or_zero(inputs.t_y, True, batch, device, "t_y"))  # (B, C)
        return Streams([y], cond, self.rope_table(self.spec.num_slots, device))  # rope 2 x (K, Dh), no padding

    def heads(self, xs: list[Tensor], cond: Tensor) -> BackboneOutput:
        return BackboneOutput(token_logits=None, latent_out=self.final(xs[0], cond))  # (B, K, latent_out_dim)
