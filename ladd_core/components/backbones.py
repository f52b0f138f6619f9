"""Denoiser backbones: networks mapping noisy tokens (and latents) to predictions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from ladd_core.capability import Capability
from ladd_core.config.base import ComponentConfig

__all__ = ["Backbone", "BackboneConfig", "BackboneOutput", "BackboneSpec"]


class BackboneConfig(ComponentConfig):
    """Shared backbone fields."""


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone must accept and produce, fixed by the rest of the model.

    Attributes:
        num_classes: token logit width (data vocabulary + special ids such as the mask).
        seq_len: maximum token sequence length ``L``.
        num_slots: latent slots ``K`` (0 without a latent).
        latent_in_dim: width of each latent slot fed to the network.
        latent_out_dim: width of each latent slot predicted by the latent head.
    """

    num_classes: int
    seq_len: int
    num_slots: int = 0
    latent_in_dim: int = 0
    latent_out_dim: int = 0


@dataclass(frozen=True)
class BackboneOutput:
    """Network predictions.

    Attributes:
        token_logits: ``(B, L, num_classes)`` or ``None`` for latent-only networks.
        latent_out: ``(B, K, latent_out_dim)`` or ``None`` for token-only networks.
    """

    token_logits: Tensor | None
    latent_out: Tensor | None = None


class Backbone(nn.Module, ABC):
    """A denoiser network.

    Capabilities (declared, checked when a model is assembled):
        ``"tokens"``: reads token ids and returns ``token_logits``;
        ``"latent_stream"``: also reads ``latents (B, K, latent_in_dim)`` and returns ``latent_out``;
        ``"latent_only"``: reads only latents (a separate latent denoiser).

    Args:
        config: the component's ``Config``.
        spec: the :class:`BackboneSpec` fixed by the token process and latent channel.
    """

    Config: ClassVar[type[BackboneConfig]] = BackboneConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({Capability.TOKENS})

    def __init__(self, config: BackboneConfig, spec: BackboneSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    @property
    def time_conditioned(self) -> bool:
        """Whether the token prediction depends on ``t_x`` (if not, samplers may cache calls)."""
        return True

    def check_latent_channel(self, hint: str = "") -> None:
        """Check the spec has a latent channel (``num_slots``, ``latent_in_dim`` and ``latent_out_dim >= 1``).

        Raises:
            ValueError: it does not (``hint`` is appended to the message).
        """
        spec = self.spec
        if spec.num_slots < 1 or spec.latent_in_dim < 1 or spec.latent_out_dim < 1:
            raise ValueError(
                f"the {self.config.name!r} backbone needs a latent channel (spec.num_slots, latent_in_dim and "
                f"latent_out_dim >= 1), got {spec}{hint}"
            )

    def check_tokens(self, tokens: Tensor | None, attention_mask: Tensor | None) -> tuple[int, int]:
        """``(B, L)`` of ``tokens``, after checking they are given and ``attention_mask`` (if any) matches.

        Raises:
            ValueError: ``tokens`` is ``None``, or ``attention_mask`` has another shape.
        """
        if tokens is None:
            raise ValueError(f"the {self.config.name!r} backbone needs tokens (B, L), got None")
        if attention_mask is not None and attention_mask.shape != tokens.shape:
            raise ValueError(f"attention_mask must have shape {tuple(tokens.shape)}, got {tuple(attention_mask.shape)}")
        return tokens.shape[0], tokens.shape[1]

    def check_latents(self, latents: Tensor | None, batch: int | None = None) -> int:
        """``B`` of ``latents``, after checking they are ``(B, num_slots, latent_in_dim)`` (``B = batch`` if given).

        Raises:
            ValueError: ``latents`` is ``None`` or has another shape.
        """
        if latents is None:
            raise ValueError(f"the {self.config.name!r} backbone needs latents (B, K, latent_in_dim), got None")
        b = latents.shape[0] if batch is None else batch
        if latents.shape != (b, self.spec.num_slots, self.spec.latent_in_dim):
            raise ValueError(
                f"latents must have shape ({'B' if batch is None else batch}, {self.spec.num_slots}, "
                f"{self.spec.latent_in_dim}), got {tuple(latents.shape)}"
            )
        return b

    @abstractmethod
    def forward(
        self,
        tokens: Tensor | None,
        latents: Tensor | None,
        t_x: Tensor | None,
        t_y: Tensor | None,
        attention_mask: Tensor | None = None,
    ) -> BackboneOutput:
        """Predict.

        Args:
            tokens: ``(B, L)`` long ids or ``None``.
            latents: ``(B, K, latent_in_dim)`` or ``None``.
            t_x: token times ``(B,)`` or ``None``.
            t_y: latent times ``(B,)`` or ``None``.
            attention_mask: ``(B, L)`` bool, ``True`` at real (non-padding) tokens.
        """
