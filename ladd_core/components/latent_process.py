"""A diffused latent channel as small process pieces; the core schedule does the rest.

A :class:`DiffusedLatent` supplies, with explicit times and stage:

* :meth:`~DiffusedLatent.encode_latent` -- ``x_0 -> y_0`` (the clean latent, its network input,
  regularisers);
* :meth:`~DiffusedLatent.forward_sample` -- ``(y_0, t) -> y_t`` and its network input;
* :meth:`~DiffusedLatent.latent_loss` -- the prediction target, latent loss and bound term;
* :meth:`~DiffusedLatent.plan` -- which network calls a training step makes (joint or
  sequential, with or without the latent term this stage);

and the sampling methods of :class:`~ladd_core.components.latent_protocols.SequentialSampling`
(``sample_prior``, ``network_input``, ``latent_step``, ``latent_finalize``; this class gives
``predict_latent``, ``token_condition`` and ``prompt_latent``).
:func:`ladd_core.components.latent_schedule.train_latent` draws the latent time (tied or an
independent clock), applies latent dropout, makes the network calls and assembles the
:class:`~ladd_core.components.latents.LatentTrainOutput` once for every such channel.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

import torch
from torch import Tensor

from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_schedule import (
    CleanLatent,
    LatentLoss,
    LatentStep,
    LatentTimes,
    NoisedLatent,
    TrainPlan,
    train_latent,
)
from ladd_core.components.latents import LatentBatch, LatentChannel, LatentTrainOutput, Networks

__all__ = [
    "CleanLatent",
    "DiffusedLatent",
    "LatentLoss",
    "LatentStep",
    "LatentTimes",
    "NoisedLatent",
    "TrainPlan",
    "encoder_phase",
    "latent_phase",
]


def encoder_phase(two_stage: bool, stage: int) -> bool:
    """Whether the encoder trains in ``stage`` (1-based): always single-stage, stage 1 of a two-stage recipe."""
    return not two_stage or stage <= 1


def latent_phase(two_stage: bool, stage: int) -> bool:
    """Whether the latent loss is on in ``stage``: always single-stage, from stage 2 of a two-stage recipe."""
    return not two_stage or stage >= 2


class DiffusedLatent(LatentChannel):
    """A latent channel given by its process pieces; :meth:`training_forward` is the core schedule.

    Subclasses have an ``encoder`` (the network that reads ``x_0``; its slot count is ``K``) and a
    ``config.t_min`` (the lowest latent time, :attr:`t_min`), and implement :meth:`encode_latent`,
    :meth:`forward_sample` and :meth:`latent_loss`; they override :meth:`plan`, :meth:`independent_clock`,
    :meth:`latent_times` and the class attributes below where they differ from a joint channel.
    """

    latent_network: ClassVar[Literal["joint", "denoiser"]] = "joint"
    """Which network predicts the latent in a sequential step: the joint network fed the all-mask token
    state at ``t_x = 1`` (``"joint"``), or ``Networks.latent_denoiser`` (``"denoiser"``)."""

    if TYPE_CHECKING:  # every sampled subclass implements it (JointSampling); the pieces below call it

        def network_input(self, state: Tensor) -> Tensor: ...

    encoder: Encoder

    @property
    def num_slots(self) -> int:
        """``K``: the encoder's slots."""
        return self.encoder.num_slots

    @property
    def t_min(self) -> float:
        """The lowest latent time: ``config.t_min``."""
        return float(self.config.t_min)  # type: ignore[attr-defined]

    @property
    def dropout(self) -> float:
        """Latent dropout probability per example in training (float latents only); 0 = off."""
        return 0.0

    @property
    def context_share(self) -> float:
        """Share of sequential latent passes (joint network) that read ``x_t`` at ``t_x`` instead of all masks."""
        return 0.0

    @property
    def latent_rows(self) -> float:
        """Share of the rows (the leading ones) whose latent a sequential training step predicts; 1 = all.

        Below 1 the latent loss of those rows is rescaled to an unbiased estimate of the batch mean (a
        cheaper, noisier latent gradient); evaluation always predicts every row.
        """
        return 1.0

    def plan(self, stage: int, nets: Networks) -> TrainPlan:
        """The calls of a training step in ``stage`` (default: one joint call)."""
        return TrainPlan()

    def independent_clock(self, joint: bool) -> bool:
        """Whether ``t_y`` is drawn independently of ``t_x`` (default: ``clocks = "independent"`` in training)."""
        return self.training and getattr(self.config, "clocks", "tied") == "independent"

    def latent_times(self, t: Tensor, independent: bool) -> LatentTimes:
        """``t_y`` from ``t (B,)`` (``t_x``, or a stratified uniform draw on ``[t_min, 1]``); default: unchanged."""
        return LatentTimes(t, torch.full_like(t, 1.0 - self.t_min), self.t_min)

    @abstractmethod
    def encode_latent(
        self, x0: Tensor, x_t: Tensor, attention_mask: Tensor, stage: int, generator: torch.Generator | None
    ) -> CleanLatent:
        """``y_0`` of clean tokens ``x0 (B, L)`` (``x_t`` tells which positions the token network must predict)."""

    @abstractmethod
    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        """A draw of ``y_t ~ q(y_t | y_0)`` at ``t (B,)``."""

    @abstractmethod
    def latent_loss(self, step: LatentStep) -> LatentLoss:
        """Latent loss, bound term and logs of a step (``step.latent_out`` is ``None`` without a latent term)."""

    # -- sampling pieces shared by the diffused channels ---------------------------------------
    def predict_latent(self, nets: Networks, state: Tensor, t_y: Tensor, token_prior: Tensor) -> Tensor:
        """The latent prediction of the latent-first chain, made by the network of :attr:`latent_network`.

        ``"denoiser"``: ``latent_denoiser(y_t, t_y)``.  ``"joint"``: the joint network fed the token state
        ``token_prior (B, L)`` -- the all-mask sequence at ``t_x = 1``, or a prompt with the rest masked at
        ``t_x`` = its masked fraction per row (the time of the linear token schedule).
        """
        if self.latent_network == "denoiser":
            if nets.latent_denoiser is None:
                raise ValueError(f"the sequential schedule of {type(self).__name__} needs model.latent_denoiser")
            out = nets.latent_denoiser(None, self.network_input(state), None, t_y.to(torch.float32)).latent_out
        else:
            t_x = torch.ones(state.shape[0], device=state.device)
            if nets.token_prior is not None:
                masked = token_prior == nets.token_prior(*token_prior.shape, token_prior.device)  # (B, L)
                t_x = masked.float().mean(-1)
            out = nets.backbone(token_prior, self.network_input(state), t_x, t_y.float(), None).latent_out
        if out is None:
            raise ValueError("the latent network returned no latent_out")
        return out

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """The clean latent's network input and ``t_y = 0``."""
        return self.network_input(state), torch.zeros(state.shape[0], device=state.device)

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """Default: ``None``, the latent chain of :meth:`predict_latent` fed the prompt is the conditioned route."""
        return None

    def training_forward(self, nets: Networks, batch: LatentBatch, *, stage: int = 1) -> LatentTrainOutput:
        return train_latent(self, nets, batch, stage=stage)
