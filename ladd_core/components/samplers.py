"""Samplers: run the reverse process of an assembled model."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.conditioning import Condition, ConditionError
from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.model import LaddModel

__all__ = ["SampleOutput", "Sampler", "SamplerConfig", "start_tokens"]


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


def start_tokens(
    model: LaddModel, num_samples: int, length: int | None, condition: Condition | None
) -> tuple[Tensor, Condition | None]:
    """The token state a chain starts from, ``(B, L)``, and the condition expanded to the batch.

    Without a condition: the process's fully noised prior.  With one: the prior with every visible
    position set to its given id (the length is the condition's).

    Raises:
        ConditionError: ``length`` given and different from the condition's.
    """
    if condition is None:
        return model.process.prior(num_samples, length or model.seq_len, model.device), None
    if length is not None and length != condition.length:
        raise ConditionError(f"the condition has length {condition.length}, asked for {length}")
    cond = condition.expand(num_samples, model.device)
    x = model.process.prior(num_samples, cond.length, model.device)  # (B, L)
    return cond.apply(x), cond


class Sampler(ABC):
    """Base class of samplers.

    :meth:`sample` is the public entry: it prepares the start state once (:func:`start_tokens`: the
    prior, the condition's visible tokens set) and hands it to :meth:`_run`, the sampler's own chain.

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

    def latent_read_time(self, capabilities: frozenset[str]) -> float | None:
        """The latent time ``t_y`` at which this sampler's token network reads the latent when it reveals
        tokens from the fully noised state -- its one-step (N = 1) operating point -- for a model with
        ``capabilities``.

        ``0.0``: the clean latent (a latent-first, sequential schedule); ``1.0``: the latent's prior (the
        first call of a joint schedule, where a tied-clock latent carries nothing about ``x_0``); ``None``:
        the sampler reads no latent, or does not say.  The latent-health probe
        (:func:`ladd_core.diagnostics.latent_health`) measures the latent's use at this time, so its
        warnings concern what this sampler can actually read.  Default: ``None``.
        """
        return None

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

        Raises:
            ConditionError: ``length`` is given and differs from the condition's.
        """
        # inference mode, not only no_grad: a few-step chain on a small batch is dozens of tiny ops per step, and
        # skipping autograd's version and view bookkeeping takes about an eighth off the sampler's own time
        with torch.inference_mode():
            x, cond = start_tokens(model, num_samples, length, condition)  # (B, L)
            out = self._run(model, x, cond, generator)
        # plain tensors for the caller (an inference tensor refuses in-place edits outside inference mode)
        latents = None if out.latents is None else out.latents.clone()
        return dataclasses.replace(out, tokens=out.tokens.clone(), latents=latents)

    @abstractmethod
    def _run(
        self, model: LaddModel, x: Tensor, condition: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        """Run the chain from the start state and return the clean samples.

        Called by :meth:`sample` under ``torch.inference_mode()``.

        Args:
            model: the assembled model.
            x: ``(B, L)`` start tokens (the prior, with a condition's visible tokens already set).
            condition: the condition expanded to the ``B`` rows, or ``None``; the chain re-imposes it
                after every step and keeps it when generating latents.
            generator: the only source of randomness.
        """
