"""``mmdit``: the two-stream (SD3-style) MM-DiT joint denoiser of LADD.

Tokens and latent slots are two streams with their own weights that meet in a
single joint attention over the concatenated sequence ``[x_1..x_L, y_1..y_K]``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_attention.backends import backend_for
from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput, BackboneSpec
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_dit.layers import (
    DiTBlock,
    FinalLayer,
    TimestepEmbedder,
    apply_rope,
    attention,
    merge_heads,
    modulate,
    rope_cache,
    split_heads,
)

__all__ = ["MMDiT", "MMDiTBlock", "check_heads", "latent_mlp", "times_or_zero"]


def check_heads(hidden: int, heads: int) -> None:
    """Raise ``ValueError`` unless ``heads`` divides ``hidden`` with an even head width (RoPE)."""
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    if (hidden // heads) % 2:
        raise ValueError(f"head width hidden/heads = {hidden // heads} must be even for RoPE")


def latent_mlp(in_dim: int, hidden: int) -> nn.Sequential:
    """Latent patch embedding ``Linear(d, 4H) -> SiLU -> Linear(4H, H)``.

    An MLP rather than a linear map: the first block's LayerNorm would make a linear
    embedding invariant to the scale of the slot vector, which carries the noise level.
    """
    return nn.Sequential(nn.Linear(in_dim, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, hidden))


def times_or_zero(t: Tensor | None, use: bool, batch: int, device: torch.device, what: str) -> Tensor:
    """The ``(B,)`` float32 times fed to a time embedder (zeros when ``use`` is false).

    Args:
        t: ``(B,)`` or scalar times, or ``None``.
        use: whether the network is conditioned on this time.
        batch: ``B``.
        device: target device.
        what: the argument's name for error messages (``"t_x"``, ``"t_y"``).

    Raises:
        ValueError: ``use`` is true and ``t`` is missing or has the wrong shape.
    """
    if not use:
        return torch.zeros(batch, device=device)
    if t is None:
        raise ValueError(f"this backbone is conditioned on {what} and needs it, got None")
    t = t.to(device=device, dtype=torch.float32).reshape(-1)  # (B,) or (1,)
    if t.numel() == 1:
        t = t.expand(batch)  # (B,)
    if t.shape != (batch,):
        raise ValueError(f"{what} must have shape ({batch},) or be a scalar, got {tuple(t.shape)}")
    return t


class MMDiTBlock(nn.Module):
    """One MM-DiT block: per-stream adaLN-Zero weights, one joint attention.

    Each stream owns a :class:`~ladd_dit.layers.DiTBlock` used only as a container of
    its weights (norms, qkv, attention-out, MLP, zero-initialised 6-way adaLN); the
    forward pass here interleaves them so queries of either stream attend to the keys
    of both.  A fresh block is the identity on both streams.

    Args:
        hidden: ``D``.
        heads: attention heads.
        cond_dim: conditioning width ``C``.
        mlp_ratio: MLP width multiplier.
        dropout: dropout on the residual branches.
        attention: the attention backend of the joint attention (``None``: SDPA).
    """

    def __init__(
        self,
        hidden: int,
        heads: int,
        cond_dim: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention: AttentionBackend | None = None,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.attn_backend = attention
        self.x = DiTBlock(hidden, heads, cond_dim, mlp_ratio=mlp_ratio, dropout=dropout)
        self.y = DiTBlock(hidden, heads, cond_dim, mlp_ratio=mlp_ratio, dropout=dropout)

    def forward(
        self, x: Tensor, y: Tensor, cond: Tensor, rope: tuple[Tensor, Tensor], key_mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Apply the block.

        Args:
            x: token stream ``(B, L, D)``.
            y: latent stream ``(B, K, D)``.
            cond: ``(B, C)`` raw conditioning (SiLU applied inside the adaLN).
            rope: ``(cos, sin)`` for the ``L + K`` concatenated positions, each ``(L+K, Dh)``.
            key_mask: ``(B, L+K)`` bool, ``True`` at visible keys, or ``None``.

        Returns:
            Updated ``(x, y)``.
        """
        length = x.shape[1]
        mx = self.x.ada_ln(cond).unsqueeze(1).chunk(6, dim=-1)  # 6 x (B, 1, D)
        my = self.y.ada_ln(cond).unsqueeze(1).chunk(6, dim=-1)  # 6 x (B, 1, D)
        hx = modulate(self.x.norm1(x), mx[0], mx[1])  # (B, L, D)
        hy = modulate(self.y.norm1(y), my[0], my[1])  # (B, K, D)
        qkv_x = [split_heads(z, self.heads) for z in self.x.qkv(hx).chunk(3, dim=-1)]  # 3 x (B, H, L, Dh)
        qkv_y = [split_heads(z, self.heads) for z in self.y.qkv(hy).chunk(3, dim=-1)]  # 3 x (B, H, K, Dh)
        q, k, v = (torch.cat([a, b], dim=2) for a, b in zip(qkv_x, qkv_y))  # 3 x (B, H, L+K, Dh)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)  # (B, H, L+K, Dh)
        out = merge_heads(attention(q, k, v, key_mask, self.attn_backend))  # (B, L+K, D)
        ox, oy = out[:, :length], out[:, length:]  # (B, L, D), (B, K, D)
        x = x + mx[2] * self.x.dropout(self.x.attn_out(ox))
        y = y + my[2] * self.y.dropout(self.y.attn_out(oy))
        x = x + mx[5] * self.x.dropout(self.x.mlp(modulate(self.x.norm2(x), mx[3], mx[4])))  # (B, L, D)
        y = y + my[5] * self.y.dropout(self.y.mlp(modulate(self.y.norm2(y), my[3], my[4])))  # (B, K, D)
        return x, y


class MMDiT(Backbone):
    """Two-stream MM-DiT: ``(x_t (B, L), y_t (B, K, d_in), t_x, t_y) -> (logits (B, L, C), latent_out (B, K, d_out))``.

    Token stream: embedding table ``spec.num_classes x D``.  Latent stream: each slot
    through :func:`latent_mlp`.  ``layers`` :class:`MMDiTBlock` s with joint attention
    and RoPE over the concatenated positions (latent slot ``k`` sits at ``L + k``);
    padding is masked on the token keys only, latent slots are always visible.

    Conditioning ``c = E_x(t_x) + E_y(t_y)`` from two sinusoidal
    :class:`~ladd_dit.layers.TimestepEmbedder` s drives every adaLN.  With
    ``token_time=False`` (default, MDLM/LADD: the mask ratio reveals ``t_x``) ``E_x``
    sees 0; with ``latent_time=False`` ``E_y`` sees 0.

    Heads: adaLN :class:`~ladd_dit.layers.FinalLayer` to ``spec.num_classes`` (float32
    logits) and to ``spec.latent_out_dim``.
    """

    class Config(BackboneConfig):
        """Configuration of the ``mmdit`` backbone."""

        name: Literal["mmdit"] = "mmdit"
        hidden: int = Field(128, ge=8, description="model width D of both streams")
        layers: int = Field(4, ge=1, description="number of MM-DiT blocks")
        heads: int = Field(4, ge=1, description="attention heads; must divide hidden, and hidden/heads must be even")
        cond_dim: int = Field(64, ge=1, description="width of the time-conditioning vector driving adaLN")
        mlp_ratio: float = Field(4.0, gt=0, le=16, description="MLP hidden width as a multiple of hidden")
        dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the residual branches")
        token_time: bool = Field(
            False, description="condition on t_x; if false E_x sees 0 (the mask ratio reveals t_x, as in MDLM)"
        )
        latent_time: bool = Field(True, description="condition on t_y; if false E_y sees 0 (e.g. Di-LADD)")
        rope_base: float = Field(10000.0, gt=1.0, description="rotary position embedding base")
        attention: Annotated[ComponentConfig, Ref("attention")] = ref(
            "attention", "sdpa", description="attention kernel: sdpa (default), math (reference), xformers (CUDA)"
        )

        @model_validator(mode="after")
        def _check_heads(self) -> MMDiT.Config:
            check_heads(self.hidden, self.heads)
            return self

    capabilities = frozenset({"tokens", "latent_stream"})
    config: Config

    def __init__(self, config: Config, spec: BackboneSpec, attention: AttentionBackend | None = None) -> None:
        super().__init__(config, spec)
        if spec.num_slots < 1 or spec.latent_in_dim < 1 or spec.latent_out_dim < 1:
            raise ValueError(
                "the 'mmdit' backbone needs a latent channel (spec.num_slots, latent_in_dim and latent_out_dim >= 1), "
                f"got {spec}; use 'dit' for token-only models"
            )
        c = config
        self.attn_backend = attention if attention is not None else backend_for(c.attention)
        self.embed = nn.Embedding(spec.num_classes, c.hidden)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.latent_embed = latent_mlp(spec.latent_in_dim, c.hidden)
        self.time_x = TimestepEmbedder(c.cond_dim)
        self.time_y = TimestepEmbedder(c.cond_dim)
        self.blocks = nn.ModuleList(
            MMDiTBlock(c.hidden, c.heads, c.cond_dim, c.mlp_ratio, c.dropout, attention=self.attn_backend)
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
        """Jointly denoise tokens and latent slots.

        Args:
            tokens: ``(B, L)`` long ids in ``[0, num_classes)``.
            latents: ``(B, K, latent_in_dim)``.
            t_x: token times ``(B,)`` (or scalar); used only with ``token_time``.
            t_y: latent times ``(B,)`` (or scalar); required with ``latent_time``.
            attention_mask: ``(B, L)`` bool, ``True`` at real tokens.

        Returns:
            ``BackboneOutput(token_logits=(B, L, num_classes) float32, latent_out=(B, K, latent_out_dim))``.
        """
        if tokens is None:
            raise ValueError("the 'mmdit' backbone needs tokens (B, L), got None")
        if latents is None:
            raise ValueError("the 'mmdit' backbone needs latents (B, K, latent_in_dim), got None")
        batch, length = tokens.shape
        k_slots = self.spec.num_slots
        if latents.shape != (batch, k_slots, self.spec.latent_in_dim):
            raise ValueError(
                f"latents must have shape ({batch}, {k_slots}, {self.spec.latent_in_dim}), got {tuple(latents.shape)}"
            )
        if attention_mask is not None and attention_mask.shape != tokens.shape:
            raise ValueError(f"attention_mask must have shape {tuple(tokens.shape)}, got {tuple(attention_mask.shape)}")
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
            x, y = block(x, y, cond, rope, key_mask)  # (B, L, D), (B, K, D)
        logits = self.final_x(x, cond).float()  # (B, L, num_classes)
        latent_out = self.final_y(y, cond)  # (B, K, latent_out_dim)
        return BackboneOutput(token_logits=logits, latent_out=latent_out)
