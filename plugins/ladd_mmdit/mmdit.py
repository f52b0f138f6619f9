"""``mmdit``: the two-stream (SD3-style) MM-DiT joint denoiser of LADD.

Tokens and latent slots are two streams with their own weights that meet in a
single joint attention over the concatenated sequence ``[x_1..x_L, y_1..y_K]``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ladd_attention.backends import attention_field, backend_for
from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import BackboneOutput, BackboneSpec
from ladd_core.config.base import ComponentConfig, Ref
from ladd_core.nn import FinalLayer, JointTransformerBlock, TimestepEmbedder, embed_mlp, times_or_zero
from ladd_core.nn.backbone import BackboneInputs, Streams, TransformerBackbone, TransformerBackboneConfig

__all__ = ["MMDiT"]


class MMDiT(TransformerBackbone):
    """Two-stream MM-DiT: ``(x_t (B, L), y_t (B, K, d_in), t_x, t_y) -> (logits (B, L, C), latent_out (B, K, d_out))``.

    Token stream: embedding table ``spec.num_classes x D``.  Latent stream: each slot
    through :func:`~ladd_core.nn.embed_mlp`.  ``layers`` :class:`~ladd_core.nn.JointTransformerBlock` s
    (streams ``x`` and ``y``) with joint attention and RoPE over the concatenated positions
    (latent slot ``k`` sits at ``L + k``); padding is masked on the token keys only, latent
    slots are always visible.

    Conditioning ``c = E_x(t_x) + E_y(t_y)`` from two sinusoidal
    :class:`~ladd_core.nn.TimestepEmbedder` s drives every adaLN.  With
    ``token_time=False`` (default, MDLM/LADD: the mask ratio reveals ``t_x``) ``E_x``
    sees 0; with ``latent_time=False`` ``E_y`` sees 0.

    Heads: adaLN :class:`~ladd_core.nn.FinalLayer` to ``spec.num_classes`` (float32
    logits) and to ``spec.latent_out_dim``.  Forward: ``tokens (B, L)``, ``latents (B, K,
    latent_in_dim)``, times ``(B,)`` or scalars, ``attention_mask (B, L)`` on the tokens.
    """

    class Config(TransformerBackboneConfig):
        """Configuration of the ``mmdit`` backbone."""

        name: Literal["mmdit"] = "mmdit"
        token_time: bool = Field(
            False, description="condition on t_x; if false E_x sees 0 (the mask ratio reveals t_x, as in MDLM)"
        )
        latent_time: bool = Field(True, description="condition on t_y; if false E_y sees 0 (e.g. Di-LADD)")
        attention: Annotated[ComponentConfig, Ref("attention")] = attention_field()

    capabilities = frozenset({"tokens", "latent_stream"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec, attention if attention is not None else backend_for(config.attention))
        self.check_latent_channel("; use 'dit' for token-only models")
        c = config
        self.embed = nn.Embedding(spec.num_classes, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.latent_embed = embed_mlp(spec.latent_in_dim, c.hidden)
        self.time_x = TimestepEmbedder(c.cond_dim)
        self.time_y = TimestepEmbedder(c.cond_dim)
        self.blocks = self.block_stack(JointTransformerBlock)
        self.final_x = FinalLayer(c.hidden, spec.num_classes, c.cond_dim)
        self.final_y = FinalLayer(c.hidden, spec.latent_out_dim, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """Always ``True``: the token prediction depends on the latent, which changes every step."""
        return True

    def streams(self, inputs: BackboneInputs) -> Streams:
        tokens, latents, mask = inputs.tokens, inputs.latents, inputs.attention_mask
        batch, length = self.check_tokens(tokens, mask)
        self.check_latents(latents, batch)
        k_slots = self.spec.num_slots
        device = tokens.device
        c = self.config
        x = self.embed(tokens)  # (B, L, D)
        y = self.latent_embed(latents.to(self.latent_embed[0].weight.dtype))  # (B, K, D)
        cond = self.time_x(times_or_zero(inputs.t_x, c.token_time, batch, device, "t_x"))  # (B, C)
        cond = cond + self.time_y(times_or_zero(inputs.t_y, c.latent_time, batch, device, "t_y"))  # (B, C)
        key_mask = None
        if mask is not None:
            slots_visible = torch.ones(batch, k_slots, dtype=torch.bool, device=device)  # (B, K)
            key_mask = torch.cat([mask.to(torch.bool), slots_visible], dim=1)  # (B, L+K)
        return Streams([x, y], cond, self.rope_table(length + k_slots, device), key_mask)  # slot k at L + k

    def heads(self, xs: list[Tensor], cond: Tensor) -> BackboneOutput:
        x, y = xs  # (B, L, D), (B, K, D)
        logits = self.final_x(x, cond).float()  # (B, L, num_classes)
        return BackboneOutput(token_logits=logits, latent_out=self.final_y(y, cond))  # latent (B, K, latent_out_dim)
