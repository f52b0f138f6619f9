"""The core training schedule of diffused latent channels: joint and sequential, written once.

:func:`train_latent` runs one training step of a
:class:`~ladd_core.components.latent_process.DiffusedLatent` ``channel``:

1. ``y_0`` = ``channel.encode_latent(...)`` (the channel's own draws, e.g. encoder noise);
2. latent dropout (``channel.dropout`` in training): ``keep ~ Bernoulli(1 - p)`` per example, and a
   dropped example's clean and noised latents are zeroed;
3. if the plan draws the latent: ``t_y`` -- ``t_x`` (tied clocks) or an independent stratified draw on
   ``[t_min, 1]``, permuted to decorrelate it from ``t_x``'s strata -- then ``y_t`` =
   ``channel.forward_sample(y_0, t_y)``;
4. the network calls: *joint* -- one ``backbone(x_t, y_t, t_x, t_y)``; *sequential* -- the token pass
   ``backbone(x_t, y_0, t_x, 0)`` and, with the latent term on, a latent pass: the latent denoiser on
   ``(y_t, t_y)``, or the joint network fed the all-mask token state at ``t_x = 1`` (a
   ``channel.context_share`` of the examples read ``x_t`` at ``t_x`` instead), batched with the token pass
   into one call; in training the latent pass covers the first ``channel.latent_rows`` share of the rows;
5. ``channel.latent_loss(step)`` (on those rows, rescaled to an unbiased batch mean) and the
   :class:`~ladd_core.components.latents.LatentTrainOutput` (latent loss + the encoding's regulariser).

The order of the random draws is fixed (encoding, dropout, times, forward sample, context), so that a
seed gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ladd_core.components.latents import LatentBatch, LatentTrainOutput, Networks
from ladd_core.components.objectives import sample_times

if TYPE_CHECKING:
    from ladd_core.components.latent_process import DiffusedLatent

__all__ = [
    "CleanLatent",
    "LatentLoss",
    "LatentStep",
    "LatentTimes",
    "NoisedLatent",
    "TrainPlan",
    "draw_latent_times",
    "latent_rows",
    "train_latent",
]


@dataclass
class CleanLatent:
    """A channel's clean latent ``y_0`` of a batch.

    Attributes:
        value: ``y_0`` in the channel's state space: ``(B, K, d)`` floats, ``(B, K)`` codes, ``(B, K, b)`` bits.
        input: ``(B, K, input_dim)`` what the backbone's latent stream reads for ``y_0`` (carries the
            encoder's gradients).
        reg: ``()`` or ``(B,)`` regulariser loss added to the latent loss (commitment, variance floor), or ``None``.
        logs: scalar diagnostics of the encoding.
        aux: channel-private by-products the loss reads (e.g. the encoder's logits), or ``None``.
    """

    value: Tensor
    input: Tensor
    reg: Tensor | None = None
    logs: dict[str, Tensor | float] = field(default_factory=dict)
    aux: Any = None


@dataclass
class NoisedLatent:
    """``y_t`` drawn by the forward process.

    Attributes:
        state: ``y_t`` in the state space of :attr:`CleanLatent.value`.
        input: ``(B, K, input_dim)`` what the latent stream reads for ``y_t``.
        noise: what the draw used: the Gaussian ``eps`` (the eps-prediction target), or the masked entries (bool).
    """

    state: Tensor
    input: Tensor
    noise: Tensor


@dataclass
class LatentTimes:
    """Latent times of a training step.

    Attributes:
        t: ``(B,)`` ``t_y``.
        inv_density: ``(B,)`` ``1 / density(t_y)`` of the draw (importance weight of a time integral).
        t_lo: the lowest reachable ``t_y``.
    """

    t: Tensor
    inv_density: Tensor
    t_lo: float


@dataclass(frozen=True)
class TrainPlan:
    """The network calls of one training step.

    Attributes:
        joint: ``True``: one call ``backbone(x_t, y_t, t_x, t_y)`` predicts tokens and the latent.  ``False``:
            the token pass reads the clean ``y_0`` at ``t_y = 0``; the latent is predicted by a second call
            (the latent denoiser, or the joint network on the all-mask token state) when ``latent`` is set.
        latent: whether the latent is noised and predicted this step (its loss or bound is wanted).
        draw: whether ``t_y`` and ``y_t`` are drawn; normally ``latent`` (a channel may draw unused noise to
            keep its random stream as before).
    """

    joint: bool = True
    latent: bool = True
    draw: bool = True


@dataclass
class LatentStep:
    """What a training step computed, as the channel's :meth:`DiffusedLatent.latent_loss` reads it.

    ``noised``, ``times`` and ``latent_out`` are ``None`` where the plan did not draw or predict the latent.
    ``keep (B,)`` is ``False`` for the examples whose latent was dropped (latent dropout).
    """

    clean: CleanLatent
    noised: NoisedLatent | None
    times: LatentTimes | None
    latent_out: Tensor | None
    keep: Tensor
    attention_mask: Tensor
    stage: int
    plan: TrainPlan


@dataclass
class LatentLoss:
    """The latent terms of a step: ``loss (B,)`` (weighted as configured), ``nelbo (B,)`` nats or ``None``, logs."""

    loss: Tensor
    nelbo: Tensor | None = None
    logs: dict[str, Tensor | float] = field(default_factory=dict)


def draw_latent_times(t_x: Tensor, t_min: float, independent: bool, generator: torch.Generator | None = None) -> Tensor:
    """``t_x (B,)`` itself (tied clocks), or a stratified draw on ``[t_min, 1]`` in a random order ``(B,)``."""
    if not independent:
        return t_x
    b = t_x.shape[0]
    u = sample_times(b, t_min=t_min, low_discrepancy=True, device=t_x.device, generator=generator)
    return u[torch.randperm(b, generator=generator, device=t_x.device)].to(t_x.dtype)  # decorrelate from t_x


def _dropped(v: Tensor, kf: Tensor | None) -> Tensor:
    return v if kf is None else v * kf


def _code_context(
    channel: DiffusedLatent, nets: Networks, x_t: Tensor, t_x: Tensor, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """The token state ``(B, L)`` and ``t_x (B,)`` the joint network's latent pass reads, as the sampler feeds it."""
    if nets.token_prior is None:
        raise ValueError("sequential training needs Networks.token_prior (the all-mask token state)")
    b, length = x_t.shape
    prior = nets.token_prior(b, length, x_t.device)  # (B, L), as predict_latent feeds it
    t_ctx = torch.ones_like(t_x)
    if channel.training and channel.context_share > 0:
        use_x_t = torch.rand(b, generator=generator, device=x_t.device) < channel.context_share  # (B,)
        prior = torch.where(use_x_t[:, None], x_t, prior)  # (B, L)
        t_ctx = torch.where(use_x_t, t_x, t_ctx)
    return prior, t_ctx


def latent_rows(channel: DiffusedLatent, batch: int) -> int:
    """How many (leading) rows the latent pass of a sequential training step predicts: ``latent_rows`` of ``B``."""
    share = channel.latent_rows if channel.training else 1.0
    return batch if share >= 1.0 else min(batch, max(1, round(share * batch)))


def _sequential_calls(
    channel: DiffusedLatent,
    nets: Networks,
    clean: CleanLatent,
    noised: NoisedLatent | None,
    t_y: Tensor | None,
    batch: LatentBatch,
) -> tuple[Tensor | None, Tensor | None]:
    """Token logits ``(B, L, C)`` from the clean latent at ``t_y = 0``, and the latent prediction of the first
    :func:`latent_rows` rows ``(m, K, d_out)`` (``None`` without a latent term), as the sequential sampler calls.

    The latent denoiser is a second network; the joint network makes both passes in ONE call on ``B + m``
    rows (token rows first, then the latent pass on the all-mask token state at ``t_x = 1``, every key
    visible): the same per-row math as two calls (backbones are row-independent), half the op launches.
    """
    x_t, t_x, attention_mask = batch.x_t, batch.t_x, batch.attention_mask
    zeros = torch.zeros_like(t_x)
    if noised is None or t_y is None:
        return nets.backbone(x_t, clean.input, t_x, zeros, attention_mask).token_logits, None
    b = x_t.shape[0]
    m = latent_rows(channel, b)
    if channel.latent_network == "denoiser":
        if nets.latent_denoiser is None:
            raise ValueError(f"the sequential schedule of {type(channel).__name__} needs model.latent_denoiser")
        token_logits = nets.backbone(x_t, clean.input, t_x, zeros, attention_mask).token_logits
        return token_logits, nets.latent_denoiser(None, noised.input[:m], None, t_y[:m]).latent_out
    prior, t_ctx = _code_context(channel, nets, x_t, t_x, batch.generator)
    mask = None  # the latent rows see every key, as with no mask
    if attention_mask is not None:
        visible = torch.ones(m, x_t.shape[1], dtype=torch.bool, device=x_t.device)  # (m, L)
        mask = torch.cat([attention_mask.to(torch.bool), visible])  # (B + m, L)
    out = nets.backbone(
        torch.cat([x_t, prior[:m]]),  # (B + m, L)
        torch.cat([clean.input, noised.input[:m]]),  # (B + m, K, input_dim)
        torch.cat([t_x, t_ctx[:m]]),
        torch.cat([zeros, t_y[:m]]),
        mask,
    )
    token_logits = None if out.token_logits is None else out.token_logits[:b]
    return token_logits, None if out.latent_out is None else out.latent_out[b:]


def _head(step: LatentStep, m: int) -> LatentStep:
    """The first ``m`` rows of ``step`` (those whose latent was predicted)."""
    assert step.noised is not None and step.times is not None
    c, n, t = step.clean, step.noised, step.times
    return LatentStep(
        CleanLatent(c.value[:m], c.input[:m], c.reg, c.logs, c.aux),
        NoisedLatent(n.state[:m], n.input[:m], n.noise[:m]),
        LatentTimes(t.t[:m], t.inv_density[:m], t.t_lo),
        step.latent_out,
        step.keep[:m],
        step.attention_mask[:m],
        step.stage,
        step.plan,
    )


def _latent_terms(channel: DiffusedLatent, step: LatentStep) -> LatentLoss:
    """``channel.latent_loss``; with a latent pass on ``m < B`` rows, their terms scaled by ``B / m`` (0 elsewhere).

    The rows are the leading ones of a batch whose rows, times and draws are exchangeable, so the scaled
    mean over the batch is an unbiased estimate of the full-batch mean.
    """
    b = step.keep.shape[0]
    m = b if step.latent_out is None else step.latent_out.shape[0]
    if m == b:
        return channel.latent_loss(step)
    terms = channel.latent_loss(_head(step, m))

    def spread(v: Tensor) -> Tensor:  # (m,) -> (B,)
        return torch.cat([v * (b / m), v.new_zeros(b - m)])

    return LatentLoss(spread(terms.loss), None if terms.nelbo is None else spread(terms.nelbo), terms.logs)


def train_latent(channel: DiffusedLatent, nets: Networks, batch: LatentBatch, *, stage: int = 1) -> LatentTrainOutput:
    """One training step of ``channel`` (see the module docstring); arguments as ``LatentChannel.training_forward``."""
    x0, x_t, t_x, attention_mask, generator = batch.x0, batch.x_t, batch.t_x, batch.attention_mask, batch.generator
    b, dev = x0.shape[0], x0.device
    plan = channel.plan(stage, nets)
    clean = channel.encode_latent(x0, x_t, attention_mask, stage, generator)
    keep = torch.ones(b, dtype=torch.bool, device=dev)
    kf = None
    if channel.training and channel.dropout > 0:
        keep = torch.rand(b, generator=generator, device=dev) >= channel.dropout
        kf = keep.to(clean.value.dtype)[:, None, None]  # (B, 1, 1)
        clean = CleanLatent(_dropped(clean.value, kf), _dropped(clean.input, kf), clean.reg, clean.logs, clean.aux)
    times = noised = latent_out = None
    if plan.draw:
        independent = channel.independent_clock(plan.joint)
        times = channel.latent_times(draw_latent_times(t_x, channel.t_min, independent, generator), independent)
        noised = channel.forward_sample(clean, times.t, generator)
        noised = NoisedLatent(_dropped(noised.state, kf), _dropped(noised.input, kf), noised.noise)
    if plan.joint:
        assert noised is not None and times is not None, "a joint step draws the latent"
        out = nets.backbone(x_t, noised.input, t_x, times.t, attention_mask)
        token_logits, latent_out = out.token_logits, out.latent_out
    else:
        if plan.latent:
            assert noised is not None and times is not None, "a latent term needs the latent drawn"
        latent_on = noised if plan.latent else None
        t_y = None if times is None else times.t
        token_logits, latent_out = _sequential_calls(channel, nets, clean, latent_on, t_y, batch)
    if token_logits is None:
        raise ValueError("the token network returned no token_logits")
    step = LatentStep(clean, noised, times, latent_out, keep, attention_mask, stage, plan)
    terms = _latent_terms(channel, step)
    loss = terms.loss if clean.reg is None else terms.loss + clean.reg
    return LatentTrainOutput(token_logits, loss, terms.nelbo, {**clean.logs, **terms.logs})
