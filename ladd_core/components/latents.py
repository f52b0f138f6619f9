"""Latent channels: the auxiliary variable ``y`` diffused next to the tokens.

A latent channel owns everything that differs between "no latent" (MDLM),
Gaussian latents (Co-LADD) and discrete codes (Di-LADD): how ``y_0`` is
produced, how it is noised, what the latent loss is, and how a sampler steps
the latent backwards.  A diffused latent is written as process pieces
(:class:`ladd_core.components.latent_process.DiffusedLatent`); the network calls
of its training step are the core schedule's
(:mod:`ladd_core.components.latent_schedule`).

Capabilities are declared per config by :meth:`LatentChannel.capabilities_for`
and matched against each sampler's ``requires``; well-known ones:

* ``"no_latent"`` -- there is no latent (token-only samplers apply);
* ``"joint"`` -- one network call denoises tokens and latents together;
* ``"sequential"`` -- the latent can be generated first, then tokens given it;
* ``"joint_bound"`` -- ``L_x + L_y`` is a valid bound on ``-log p(x)``;
* ``"codes"`` -- the latent is a tuple of discrete codes and the channel implements
  :class:`CodeChannel` (``num_codes``, ``encode_codes``), e.g. for codebook diagnostics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ladd_core.capability import Capability
from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.components.backbones import Backbone

__all__ = [
    "CodeChannel",
    "LatentBatch",
    "LatentChannel",
    "LatentConfig",
    "LatentProbe",
    "LatentTrainOutput",
    "Networks",
    "code_usage",
]


class LatentConfig(ComponentConfig):
    """Shared latent-channel fields."""


@dataclass
class Networks:
    """The networks a latent channel may call.

    Attributes:
        backbone: the (joint) denoiser.
        latent_denoiser: an optional separate latent-only denoiser.
        token_prior: ``(batch_size, length, device) -> (B, L)`` a draw of the token process's fully
            noised state (all masks for the masked process): the "all-mask x" a sequential latent
            chain that runs on the joint network is conditioned on.  ``None`` where not provided.
    """

    backbone: Backbone
    latent_denoiser: Backbone | None = None
    token_prior: Callable[[int, int, torch.device], Tensor] | None = None


@dataclass(frozen=True)
class LatentBatch:
    """A batch as a latent channel reads it: the clean and the noised tokens, their times and the randomness.

    What :meth:`LatentChannel.training_forward` and :meth:`LatentChannel.probe` receive.

    Attributes:
        x0: clean tokens ``(B, L)``.
        x_t: noised tokens ``(B, L)``.
        t_x: token times ``(B,)`` of ``x_t``.
        attention_mask: ``(B, L)`` bool.
        generator: RNG for latent noise (``None``: the global one).
    """

    x0: Tensor
    x_t: Tensor
    t_x: Tensor
    attention_mask: Tensor
    generator: torch.Generator | None = None


@dataclass
class LatentTrainOutput:
    """What one training forward pass produces.

    Attributes:
        token_logits: ``(B, L, C)`` raw token logits for the token objective.
        latent_loss: ``(B,)`` latent training loss per example (weighted as configured), zeros without a latent.
        latent_nelbo: ``(B,)`` latent bound term in nats, or ``None`` where the channel has no valid bound.
        logs: scalar diagnostics (already reduced) to log: detached 0-dim tensors (no host sync in the
            step; the trainer converts them when it logs) or floats.
    """

    token_logits: Tensor
    latent_loss: Tensor
    latent_nelbo: Tensor | None = None
    logs: dict[str, Tensor | float] = field(default_factory=dict)


@dataclass
class LatentProbe:
    """Two ways the token network can read the latent of the same sequences, for the health probe.

    The probe (:func:`ladd_core.diagnostics.latent_health`) calls the token network on the same
    ``x_t`` and times twice -- once with the latent the encoder gives these sequences, once with the
    "no information" latent the channel was trained to handle -- and reports the difference of the
    token losses: how much the latent is *used*.

    Attributes:
        informed: ``(B, K, input_dim)`` latent input carrying the encoder's latent of ``x0``.
        informed_t: ``(B,)`` latent time that goes with ``informed``.
        null: ``(B, K, input_dim)`` the latent input that carries nothing about ``x0``.
        null_t: ``(B,)`` latent time that goes with ``null``.
        stats: scale-free statistics of the encoder's latent over the batch (e.g. ``latent_spread``).
    """

    informed: Tensor
    informed_t: Tensor
    null: Tensor
    null_t: Tensor
    stats: dict[str, float] = field(default_factory=dict)


class LatentChannel(nn.Module, ABC):
    """Base class of latent channels.

    Args:
        config: the component's ``Config``.
        Other constructor arguments (``schedule``, ``encoder``, ``vocab_size``,
        ``seq_len``) are injected by the builder when the ``__init__`` asks for them.
    """

    Config: ClassVar[type[LatentConfig]] = LatentConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()
    backbone_requires: ClassVar[frozenset[str]] = frozenset({Capability.TOKENS})
    """Capabilities the (joint) backbone must declare for this channel, e.g. ``{"latent_stream"}``."""
    latent_denoiser_requires: ClassVar[frozenset[str]] = frozenset({Capability.LATENT_ONLY})
    """Capabilities a configured separate latent denoiser must declare."""

    def __init__(self, config: LatentConfig) -> None:
        super().__init__()
        self.config = config

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        """Capabilities of this channel under ``config`` (default: the class attribute)."""
        return cls.capabilities

    @property
    @abstractmethod
    def num_slots(self) -> int:
        """``K``; 0 for no latent."""

    @property
    def input_dim(self) -> int:
        """Width of each slot as fed to the backbone's latent stream."""
        return 0

    @property
    def output_dim(self) -> int:
        """Width of each slot predicted by the backbone's latent head."""
        return 0

    @abstractmethod
    def training_forward(self, nets: Networks, batch: LatentBatch, *, stage: int = 1) -> LatentTrainOutput:
        """Encode, noise and call the networks for one training step.

        Args:
            nets: the networks.
            batch: the tokens, noised tokens, token times, mask and RNG of the step.
            stage: the training stage (1-based) of a two-stage recipe.
        """

    # -- sampling API, used by the ``joint`` and ``sequential`` samplers --------------
    # A channel declaring "joint" implements sample_prior, network_input, latent_step,
    # latent_finalize; "sequential" additionally predict_latent and token_condition.

    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """Fully noised latent state: ``(B, K, d)`` Gaussian noise, or ``(B, K)`` all-mask codes."""
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled")

    def network_input(self, state: Tensor) -> Tensor:
        """What the backbone's latent stream reads for ``state``: ``(B, K, input_dim)``."""
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled")

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """One reverse step ``t -> s`` (``(B,)`` each) of the latent given the network's ``latent_out``."""
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled")

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Noise removal: the clean latent from the last prediction ``latent_out`` made at ``state``'s time ``t (B,)``.

        The time is explicit so that a channel keeps no sampler state (eps-prediction needs it).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be sampled")

    def predict_latent(self, nets: Networks, state: Tensor, t_y: Tensor, token_prior: Tensor) -> Tensor:
        """Latent prediction for the latent-first chain of the sequential schedule (one NFE).

        ``token_prior (B, L)`` is the token state the latent is generated given: the fully noised
        sequence (all masks) when sampling unconditionally, the visible tokens of a condition (prompt,
        infilling template) with the rest masked otherwise.  Channels that generate the latent with
        the joint network (Di-LADD) read it; others use ``nets.latent_denoiser``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no sequential schedule")

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """A clean latent inferred directly from the visible tokens of a condition, or ``None``.

        Used by the sequential schedule when sampling with a condition: a channel whose latent
        chain cannot read tokens (an unconditional latent denoiser) returns its latent given the
        visible tokens here (one NFE); ``None`` (the default) means the latent chain of
        :meth:`predict_latent`, fed ``tokens``, is the conditioned route.

        Args:
            nets: the networks.
            tokens: ``(B, L)`` the given ids at ``visible``, masks elsewhere.
            visible: ``(B, L)`` bool.
        """
        return None

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """``(latent_input (B, K, input_dim), t_y (B,))`` that conditions the token chain on a clean latent."""
        raise NotImplementedError(f"{type(self).__name__} has no sequential schedule")

    def probe(self, nets: Networks, batch: LatentBatch) -> LatentProbe | None:
        """The latent inputs the health probe compares (eval mode, no corruption), or ``None`` (no latent).

        Args:
            nets: the networks.
            batch: the tokens and the ``x_t`` (with its times ``t_x``) the token network will read.
        """
        return None

    def trainable_modules(self, stage: int, nets: Networks) -> list[nn.Module]:
        """Modules to optimise in training ``stage`` (1-based); the rest is frozen.

        Default: every network and the channel itself.  Two-stage recipes override
        this (e.g. stage 2 freezes the encoder).
        """
        mods: list[nn.Module] = [nets.backbone, self]
        if nets.latent_denoiser is not None:
            mods.append(nets.latent_denoiser)
        return mods


@runtime_checkable
class CodeChannel(Protocol):
    """What a channel declaring the ``"codes"`` capability provides."""

    @property
    def num_codes(self) -> int:
        """C, the codebook size (ids ``0 .. C-1``; a mask id, if any, is not counted)."""
        ...

    def encode_codes(self, x0: Tensor, attention_mask: Tensor) -> Tensor:
        """The codes of clean sequences ``x0 (B, L)`` -> ``(B, K)`` long, deterministically, without updates."""
        ...


def code_usage(codes: Tensor, num_codes: int) -> dict[str, float]:
    """Usage statistics of ``codes (N, K)`` over a codebook of ``num_codes`` entries.

    Returns:
        ``utilisation``: share of the codebook that occurs at all; ``perplexity``: ``exp`` of the entropy
        of the code histogram (1 = one code, ``num_codes`` = uniform); ``unique``: distinct code tuples
        over sequences (1 = every sequence gets its own latent).
    """
    if codes.numel() == 0:
        raise ValueError("no codes")
    counts = torch.bincount(codes.reshape(-1), minlength=num_codes).double()  # (C,)
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return {
        "utilisation": float((counts > 0).sum()) / num_codes,
        "perplexity": float(entropy.exp()),
        "unique": torch.unique(codes, dim=0).shape[0] / codes.shape[0],
    }
