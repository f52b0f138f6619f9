"""Token processes: the forward noising of token ids and its reverse posterior step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig
from ladd_core.posterior import TokenPosterior

__all__ = ["GridStep", "NoisedTokens", "TokenProcess", "TokenProcessConfig"]

GridStep = Callable[[Tensor, TokenPosterior | Tensor, int, torch.Generator | None], Tensor]
"""``step(x_t (B, L), posterior, i, generator) -> x_s``: reverse step ``i`` of a fixed time grid (see
:meth:`TokenProcess.grid_step`)."""


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

    def noised_weights(self, logits: Tensor, x_t: Tensor, where: tuple[Tensor, ...] | None) -> Tensor:
        """Float64 weights proportional to ``p(x_0 | x_t)`` at noised positions: ``logits (n, C)`` are the
        denoiser's rows at the positions ``where`` (index tensors) of ``x_t (B, L)``, all of them noised
        (:meth:`is_noised`); with ``where = None``, ``logits (B, L, C)`` at every position, whose rows at clean
        positions the caller ignores (they need only be finite where the logits are).

        What a sampler draws from (:meth:`ladd_core.posterior.TokenPosterior.pick` rescales each drawn row by its
        total); rows need not sum to 1.  A row may overflow to ``inf`` or underflow to 0 for extreme logits (a
        cheap ``exp`` without a shift): the caller then falls back to :meth:`log_probs`.  The result may have
        ``C' <= C`` columns; classes ``>= C'`` then have probability 0.  Default: ``exp`` of :meth:`log_probs` in
        float64; a process overrides it when its noised rows need less work (absorbing: ``exp`` of the logits
        without the mask column, no look at ``x_t``).
        """
        return self.log_probs(logits, x_t if where is None else x_t[where]).double().exp()

    @abstractmethod
    def reverse_step(
        self, x_t: Tensor, log_p_x0: TokenPosterior | Tensor, t: Tensor, s: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:  # fmt: skip
        """Sample ``x_s ~ p(x_s | x_t)`` for ``s < t`` given the denoiser's ``p(x_0 | x_t)``.

        ``log_p_x0`` is a :class:`~ladd_core.posterior.TokenPosterior` or full log-probs ``(B, L, C)``
        (:func:`~ladd_core.posterior.as_posterior`).  ``t`` and ``s`` have shape ``(B,)``.  Categorical
        draws are made in float64.
        """

    def grid_step(self, times: Tensor) -> GridStep:
        """The reverse step along a fixed time grid ``times (N + 1, B)`` (float64, decreasing).

        Returns ``step(x_t, posterior, i, generator)``, which moves ``times[i] -> times[i + 1]`` exactly as
        :meth:`reverse_step` would.  Default: :meth:`reverse_step` at the grid's rows.  A process overrides it
        to evaluate its per-step coefficients (the schedule) once for the whole grid rather than once per step.
        """

        def step(x_t: Tensor, post: TokenPosterior | Tensor, i: int, generator: torch.Generator | None) -> Tensor:
            return self.reverse_step(x_t, post, times[i], times[i + 1], generator)

        return step

    @abstractmethod
    def finalize(
        self, x_t: Tensor, log_p_x0: TokenPosterior | Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Noise removal: replace every noised position by a draw from ``p(x_0 | x_t)``
        (a :class:`~ladd_core.posterior.TokenPosterior` or full log-probs ``(B, L, C)``)."""
