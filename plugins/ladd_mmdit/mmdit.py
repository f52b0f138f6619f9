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
from ladd_core.components.backbones import Backbone, BackboneOutput, BackboneSpec, TransformerBackboneConfig
from ladd_core.config.base import ComponentConfig, Ref
from ladd_core.nn import FinalLayer, JointTransformerBlock, TimestepEmbedder, embed_mlp, rope_cache, times_or_zero

__all__ = ["MMDiT"]


class MMDiT(Backbone):
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
        super().__init__(config, spec)
        self.check_latent_channel("; use 'dit' for token-only models")
        c = config
        self.attn_backend = attention if attention is not None else backend_for(c.attention)
        self.embed = nn.Embedding(spec.num_classes, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.latent_embed = embed_mlp(spec.latent_in_dim, c.hidden)
        self.time_x = TimestepEmbedder(c.cond_dim)
        self.time_y = TimestepEmbedder(c.cond_dim)
        self.blocks = nn.ModuleList(
            JointTransformerBlock(c.hidden, c.heads, c.cond_dim, c.mlp_ratio, c.dropout, attention=self.attn_backend)
            for _ in range(c.layers)
        )
        self.final_x = FinalLayer(c.hidden, spec.num_classes, c.cond_dim)
        self.final_y = FinalLayer(c.hidden, spec.latent_out_dim, c.cond_dim)

    @property
    def time_conditioned(self) -> bool:
        """Always ``True``: the token prediction depends on the latent, which changes every step."""
        return True

    def forward(
        self,
        tokens: Tensor | None,
        latents: Tensor | None,
        t_x: Tensor | None,
        t_y: Tensor | None,
        attention_mask: Tensor | None = None,
    ) -> BackboneOutput:
        batch, length = self.check_tokens(tokens, attention_mask)
        self.check_latents(latents, batch)
        k_slots = self.spec.num_slots
        device = tokens.device
        c = self.config
        x = self.embed(tokens)  # (B, L, D)
        y = self.latent_embed(latents.to(self.latent_embed[0].weight.dtype))  # (B, K, D)
        cond = self.time_x(times_or_zero(t_x, c.token_time, batch, device, "t_x"))  # (B, C)
        cond = cond + self.time_y(times_or_zero(t_y, c.latent_time, batch, device, "t_y"))  # (B, C)
        positions = torch.arange(length + k_slots, device=device)  # (L+K,): slot k at L + k
        rope = rope_cache(positions, c.hidden // c.heads, c.rope_base)  # 2 x (L+K, Dh)
        key_mask = None
        if attention_mask is not None:
            slots_visible = torch.ones(batch, k_slots, dtype=torch.bool, device=device)  # (B, K)
            key_mask = torch.cat([attention_mask.to(torch.bool), slots_visible], dim=1)  # (B, L+K)
        for block in self.blocks:
            x, y = block([x, y], cond, rope, key_mask)  # (B, L, D), (B, K, D)
        logits = self.final_x(x, cond).float()  # (B, L, num_classes)
        latent_out = self.final_y(y, cond)  # (B, K, latent_out_dim)
        return BackboneOutput(token_logits=logits, latent_out=latent_out)
