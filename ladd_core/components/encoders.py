"""Encoders: map clean tokens to latent slots ``(B, K, d)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import Field
from torch import Tensor, nn

from ladd_core.config.base import ComponentConfig

__all__ = ["Encoder", "EncoderConfig"]


class EncoderConfig(ComponentConfig):
    """Shared encoder fields."""

    num_slots: int = Field(1, ge=1, description="K, the number of latent slots")
    dim: int = Field(32, ge=1, description="d, the width of each slot")


class Encoder(nn.Module, ABC):
    """Deterministic map ``x_0 -> y_0``.

    Args:
        config: the component's ``Config`` (``num_slots`` and ``dim`` at least).
        vocab_size: data vocabulary size (the mask id, if any, is ``vocab_size``).
        seq_len: ``L``.

    Attributes:
        trainable: ``False`` for frozen pretrained encoders (never optimised or saved).
    """

    Config: ClassVar[type[EncoderConfig]] = EncoderConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()
    trainable: bool = True

    def __init__(self, config: EncoderConfig, vocab_size: int, seq_len: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.seq_len = seq_len

    @property
    def num_slots(self) -> int:
        return self.config.num_slots

    @property
    def dim(self) -> int:
        return self.config.dim

    @abstractmethod
    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        """Encode ``x0 (B, L)``; positions where ``hide (B, L)`` is true are withheld. Returns ``(B, K, d)``."""
