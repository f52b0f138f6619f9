"""Samplers: run the reverse process of an assembled model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.conditioning import Condition
    from ladd_core.model import LaddModel

__all__ = ["SampleOutput", "Sampler", "SamplerConfig"]


class SamplerConfig(ComponentConfig):
    """Shared sampler fields."""

    steps: int = Field(64, ge=1, description="N, token denoising steps")
    temperature: float = Field(1.0, gt=0.0, description="divides the normalised token log-probs")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus mass kept (1 = off)")
    t_final: float = Field(1e-5, gt=0.0, lt=1.0, description="last time of the grid (noise removal call)")


@dataclass
class SampleOutput:
    """Samples and their cost.

    Attributes:
        tokens: ``(B, L)`` long, no noise left.
        nfe: network function evaluations spent (all networks, each call counted once).
        latents: final latent state, or ``None``.
        info: extra sampler-specific numbers (for example calls saved by caching).
    """

    tokens: Tensor
    nfe: int
    latents: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Sampler(ABC):
    """Base class of samplers.

    Attributes:
        requires: model capabilities that must all be present (see
            :mod:`ladd_core.components.latents`); checked when a config is validated.
    """

    Config: ClassVar[type[SamplerConfig]] = SamplerConfig
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config

    @classmethod
    def requires_for(cls, config: SamplerConfig) -> frozenset[str]:
        """Model capabilities this sampler needs under ``config`` (default: :attr:`requires`).

        A sampler whose needs depend on a config field (a latent mode) narrows them here; config
        validation checks this set, while ``requires`` stays what every config of the sampler needs.
        """
        return cls.requires

    @abstractmethod
    @torch.no_grad()
    def sample(
        self,
        model: LaddModel,
        num_samples: int,
        *,
        generator: torch.Generator,
        length: int | None = None,
        condition: Condition | None = None,
    ) -> SampleOutput:
        """Draw ``num_samples`` sequences of ``length`` (default: the model's) from ``model``.

        With a ``condition`` (one row, broadcast, or ``num_samples`` rows; its length is the
        sequence length) the visible tokens are given: every sample holds them unchanged, and only
        the other positions are generated (latents are generated given the visible tokens).
        """
