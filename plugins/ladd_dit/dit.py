"""``dit``: the single-stream bidirectional transformer denoiser (MDLM's network)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ladd_attention.backends import attention_field, backend_for
from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import BackboneOutput, BackboneSpec
from ladd_core.config.base import ComponentConfig, Ref
from ladd_core.nn import FinalLayer, TimestepEmbedder, TransformerBlock, times_or_zero
from ladd_core.nn.backbone import BackboneInputs, Streams, TransformerBackbone, TransformerBackboneConfig

__all__ = ["DiT"]


class DiT(TransformerBackbone):
    """Bidirectional DiT over token ids: ``x_t (B, L) -> logits (B, L, num_classes)``.

    Token embedding (``spec.num_classes`` rows, data vocabulary plus the mask id)
    -> ``layers`` adaLN-Zero :class:`~ladd_core.nn.TransformerBlock` s with RoPE and
    full attention (padding keys masked) -> adaLN :class:`~ladd_core.nn.FinalLayer`.

    Conditioning: the blocks always use adaLN driven by ``c = E(t)`` from a
    :class:`~ladd_core.nn.TimestepEmbedder`.  With ``time_conditioning=False``
    (MDLM's default: the fraction of masked tokens already reveals ``t``) the
    embedder is fed ``t = 0`` for every example, so ``c`` is a learned constant;
    the parameter layout is the same either way, and ``t_x`` is ignored.

    Forward: ``tokens (B, L)`` and an optional ``attention_mask (B, L)`` (padding keys
    masked out); ``t_x (B,)`` or a scalar only with ``time_conditioning``; ``t_y`` is
    ignored and ``latents`` must be ``None`` (no latent stream).  The logits are
    returned in float32 even under autocast.
    """

    class Config(TransformerBackboneConfig):
        """Configuration of the ``dit`` backbone."""

        name: Literal["dit"] = "dit"
        time_conditioning: bool = Field(
            False,
            description="condition on t_x; if false the denoiser is time-independent (the mask ratio reveals t)",
        )
        attention: Annotated[ComponentConfig, Ref("attention")] = attention_field()

    capabilities = frozenset({"tokens"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec, attention if attention is not None else backend_for(config.attention))
        c = config
        self.embed = nn.Embedding(spec.num_classes, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.time_embed = TimestepEmbedder(c.cond_dim)
        self.blocks = self.block_stack(TransformerBlock)
        self.final = FinalLayer(c.hidden, spec.num_classes, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """``config.time_conditioning``: if false, samplers may reuse predictions across steps."""
        return self.config.time_conditioning

    def streams(self, inputs: BackboneInputs) -> Streams:
        if inputs.latents is not None:
            raise ValueError(
                "the 'dit' backbone has no latent stream and must be called with latents=None; "
                "use a backbone with the 'latent_stream' capability (e.g. 'mmdit') for latent models"
            )
        batch, length = self.check_tokens(inputs.tokens, inputs.attention_mask)
        x = self.embed(inputs.tokens)  # (B, L, D)
        cond = self.time_embed(times_or_zero(inputs.t_x, self.config.time_conditioning, batch, x.device, "t_x"))
        mask = inputs.attention_mask
        key_mask = None if mask is None else mask.to(torch.bool)  # (B, L)
        return Streams([x], cond, self.rope_table(length, x.device), key_mask)  # cond (B, C), rope 2 x (L, Dh)

    def heads(self, xs: list[Tensor], cond: Tensor) -> BackboneOutput:
        return BackboneOutput(token_logits=self.final(xs[0], cond).float(), latent_out=None)  # (B, L, num_classes)
