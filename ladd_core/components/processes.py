"""Token processes: the forward noising of token ids and its reverse posterior step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig

__all__ = ["NoisedTokens", "TokenProcess", "TokenProcessConfig"]


class TokenProcessConfig(ComponentConfig):
    """Shared token-process fields (the schedule is a Ref field declared by each process)."""


@dataclass(frozen=True)
class NoisedTokens:
    """A forward sample ``x_t ~ q(x_t | x_0)``.

    Attributes:
        x_t: noised ids, shape ``(B, L)``, dtype long.
        noised: positions that were corrupted, shape ``(B, L)``, bool.
    """

    x_t: Tensor
    noised: Tensor


class TokenProcess(ABC):
    """Forward corruption of ``(B, L)`` token ids and the reverse step.

    Args:
        config: the component's ``Config``.
        schedule: the injected :class:`Schedule`.
        vocab_size: number of data token ids (``0 .. vocab_size-1``).

    Subclasses set :attr:`num_classes` (width of the denoiser's logits,
    e.g. ``vocab_size + 1`` with a mask id).
    """

    Config: ClassVar[type[TokenProcessConfig]] = TokenProcessConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: TokenProcessConfig, schedule: Schedule, vocab_size: int) -> None:
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.config = config
        self.schedule = schedule
        self.vocab_size = vocab_size

    @property
    @abstractmethod
    def num_classes(self) -> int:
        """Width of the logits the denoiser must produce."""

    @abstractmethod
    def forward_sample(
        self, x0: Tensor, t: Tensor, maskable: Tensor, generator: torch.Generator | None = None
    ) -> NoisedTokens:
        """Sample ``x_t`` given ``x0 (B, L)``, times ``t (B,)`` and ``maskable (B, L)`` (padding is never noised)."""

    @abstractmethod
    def log_probs(self, logits: Tensor, x_t: Tensor) -> Tensor:
        """Parameterize raw logits ``(B, L, C)`` into ``log p(x_0 | x_t)`` (float32, ``(B, L, C)``)."""

    @abstractmethod
    def elbo_weight(self, t: Tensor) -> Tensor:
        """Continuous-time NELBO weight per example, shape of ``t``."""

    @abstractmethod
    def prior(self, batch_size: int, length: int, device: torch.device) -> Tensor:
        """A sample of the fully noised distribution, ``(B, L)``."""

    @abstractmethod
    def is_noised(self, x_t: Tensor) -> Tensor:
        """Positions that still carry noise, ``(B, L)`` bool."""

    @abstractmethod
    def reverse_step(
        self, x_t: Tensor, log_p_x0: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Sample ``x_s ~ p(x_s | x_t)`` for ``s < t`` given the denoiser's ``log p(x_0 | x_t)``.

        ``t`` and ``s`` have shape ``(B,)``.  Categorical draws are made in float64.
        """

    @abstractmethod
    def finalize(self, x_t: Tensor, log_p_x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Noise removal: replace every noised position by a draw from ``p(x_0 | x_t)``."""
