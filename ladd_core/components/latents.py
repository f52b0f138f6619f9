"""Latent channels: the auxiliary variable ``y`` diffused next to the tokens.

A latent channel owns everything that differs between "no latent" (MDLM),
Gaussian latents (Co-LADD) and discrete codes (Di-LADD): how ``y_0`` is
produced, how it is noised, what the latent loss is, and how a sampler steps
the latent backwards.  A diffused latent is written as process pieces
(:class:`ladd_core.components.latent_process.DiffusedLatent`); the network calls
of its training step are the core schedule's
(:mod:`ladd_core.components.latent_schedule`).

Capabilities are declared per config by :meth:`LatentChannel.capabilities_for` and matched
against each sampler's ``requires``.  A latent capability is a promise of methods, backed by a
protocol of :mod:`ladd_core.components.latent_protocols`: ``"joint"`` by
:class:`~ladd_core.components.latent_protocols.JointSampling`, ``"sequential"`` by
:class:`~ladd_core.components.latent_protocols.SequentialSampling`, ``"codes"`` by :class:`CodeChannel`.
A channel has the sampling methods only if it implements them; its capabilities start from the
protocols its class implements and are narrowed by its config.  Claims no protocol backs:
``"no_latent"`` (there is no latent) and ``"joint_bound"`` (``L_x + L_y`` bounds ``-log p(x)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from ladd_core.capability import Capability
from ladd_core.components.latent_protocols import CodeChannel, implemented_capabilities
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
    """Claims of this class that no protocol backs, e.g. ``{"no_latent"}`` (added by :meth:`capabilities_for`)."""
    backbone_requires: ClassVar[frozenset[str]] = frozenset({Capability.TOKENS})
    """Capabilities the (joint) backbone must declare for this channel, e.g. ``{"latent_stream"}``."""
    latent_denoiser_requires: ClassVar[frozenset[str]] = frozenset({Capability.LATENT_ONLY})
    """Capabilities a configured separate latent denoiser must declare."""

    def __init__(self, config: LatentConfig) -> None:
        super().__init__()
        self.config = config

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        """Capabilities of this channel under ``config``.

        Default: the protocol-backed capabilities the class implements
        (:func:`~ladd_core.components.latent_protocols.implemented_capabilities`) plus the class attribute
        :attr:`capabilities`.  An override may narrow the protocol-backed ones by config (a channel
        trained only for the sequential schedule is not ``"joint"``) and add claims no protocol backs
        (``"joint_bound"``); it may not claim a protocol the class does not implement (configs declaring
        such a claim are rejected, see :func:`ladd_core.config.capabilities.check_capabilities`).
        """
        return implemented_capabilities(cls) | cls.capabilities

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

    def probe(self, nets: Networks, batch: LatentBatch, t_y: Tensor | None = None) -> LatentProbe | None:
        """The latent inputs the health probe compares (eval mode, no corruption), or ``None`` (no latent).

        Args:
            nets: the networks.
            batch: the tokens and the ``x_t`` (with its times ``t_x``) the token network will read.
            t_y: ``(B,)`` latent times: ``informed`` is then the encoder's latent of ``x0`` noised by the
                channel's forward process to ``t_y`` (exactly the clean latent where ``t_y = 0``), with
                ``informed_t = t_y`` -- what a sampler that reads the latent at ``t_y`` gives the token
                network.  ``None``: the latent as the channel's training step feeds it at ``t_x``.
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
