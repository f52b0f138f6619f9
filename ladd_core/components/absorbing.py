"""The absorbing ("masked") diffusion process, once, over any id tensor: tokens, VQ codes, bits.

Stateless functions with explicit times, shared by the masked token process and by every latent
channel that diffuses discrete ids by masking (``vq``, the example ``bits``), so the SUBS
parameterisation, the reveal probability and the posterior step exist in one place.

Notation (ladd-method.md): ``alpha(t)`` is the probability that an id is still visible at time
``t``; the mask id ``m`` is absorbing.  For ``s < t``:

* forward: ``q(x_t | x_0) = alpha(t) delta(x_0) + (1 - alpha(t)) delta(m)``, independently per id;
* SUBS: ``p(x_0 | x_t)`` is a Dirac on ``x_t`` where ``x_t`` is revealed, the model's distribution
  (never ``m``) where it is masked;
* reverse: a masked id is revealed w.p. ``(alpha_s - alpha_t) / (1 - alpha_t)`` with a draw from
  ``p(x_0 | x_t)``, else stays masked; a revealed id never changes.

Shapes: ids ``(B, ...)`` (``(B, L)`` tokens, ``(B, K)`` codes, ``(B, K, b)`` bits); log-probs add a
trailing class axis ``(B, ..., C)``; times are ``(B,)``.  Uniforms and categorical draws of the
reverse process are float64 (:func:`ladd_core.numerics.categorical_index`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ladd_core.components.schedules import Schedule
from ladd_core.numerics import uniform
from ladd_core.posterior import PosteriorDraw, TokenPosterior

__all__ = [
    "NEG",
    "Draw",
    "absorb",
    "dense_categorical",
    "finalize",
    "grid_alphas",
    "posterior_step",
    "remasking_bound",
    "remasking_move",
    "remasking_probabilities",
    "remasking_step",
    "reveal_from_alphas",
    "reveal_probability",
    "softmax_categorical",
    "sparse_categorical",
    "subs_log_probs",
    "subs_log_softmax",
]

NEG = -1e9
"""Finite stand-in for log(0): exp(NEG) == 0 and 0 * NEG == 0, so no NaN can appear downstream."""

Draw = Callable[[Tensor, Tensor], Tensor]
"""``draw(state, where) -> state`` with fresh ids at the ``where`` positions and ``state`` elsewhere.

A draw that also has ``pick(w, where, fill)`` (:class:`~ladd_core.posterior.PosteriorDraw`: every built-in one) draws
from given float64 ``w``, ``fill`` where ``w > 1`` (:meth:`~ladd_core.posterior.TokenPosterior.pick`); the steps
below then decide the reveal and draw the class with one uniform per id (fewer kernels per step).  A plain
callable gets the reveal decided first and is called at the revealed positions.
"""


def _per_row(values: Tensor, ndim: int) -> Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` broadcasting against a ``(B, ...)`` tensor of ``ndim`` dims."""
    return values.reshape(values.shape[0], *([1] * (ndim - 1)))


def absorb(
    x0: Tensor,
    alpha_t: Tensor,
    mask_id: int,
    maskable: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Forward sample ``x_t ~ q(x_t | x_0)``: each id is replaced by ``mask_id`` w.p. ``1 - alpha_t``.

    Args:
        x0: clean ids ``(B, ...)``.
        alpha_t: visibility ``alpha(t)`` per row ``(B,)``.
        mask_id: the absorbing id.
        maskable: ``(B, ...)`` positions that may be masked (padding may not); all when ``None``.
        generator: random source (one uniform per id, in ``torch.rand``'s default dtype).

    Returns:
        ``(x_t, masked)``: the noised ids and the boolean mask of the masked positions.
    """
    u = torch.rand(x0.shape, generator=generator, device=x0.device)
    masked = u < 1 - _per_row(alpha_t, x0.dim())
    if maskable is not None:
        masked = masked & maskable.bool()
    return torch.where(masked, torch.full_like(x0, mask_id), x0), masked


def subs_log_softmax(logits: Tensor, x_t: Tensor, mask_id: int) -> Tensor:
    """SUBS ``log p(x_0 | x_t)`` ``(B, ..., C)`` (float32) from raw ``logits (B, ..., C)``.

    At a masked position: the log-softmax over every id but ``mask_id``; at a revealed one: a Dirac on
    ``x_t`` (0 there, :data:`NEG` elsewhere).  One log-softmax over the SUBS support: the column of ``x_t``
    alone where revealed, every column but the mask's where masked.

    Args:
        logits: raw scores ``(B, ..., C)`` (or normalised log-probs: renormalising them changes nothing).
        x_t: noised ids ``(B, ...)``.
        mask_id: the absorbing id (``>= C`` when there is no mask column).
    """
    ids = torch.arange(logits.shape[-1], device=logits.device)  # (C,)
    hit = ids == x_t[..., None]  # (B, ..., C): x_t's own column (the mask's column where x_t is masked)
    support = hit ^ (x_t == mask_id)[..., None]  # revealed: x_t's column only; masked: all but the mask's
    return torch.log_softmax(torch.where(support, logits.float(), float("-inf")), dim=-1).clamp_min(NEG)


def subs_log_probs(log_probs: Tensor, x_t: Tensor, mask_id: int) -> Tensor:
    """SUBS ``log p(x_0 | x_t)`` ``(B, ..., C)`` from the model's normalised log-probs: a Dirac on ``x_t`` at
    revealed positions, the log-probs (renormalised without the mask, a no-op up to rounding) at masked ones.

    Args:
        log_probs: the model's normalised log-probs ``(B, ..., C)`` with ``mask_id`` given no mass
            (its column, if any, at about :data:`NEG`).
        x_t: noised ids ``(B, ...)``.
        mask_id: the absorbing id (``>= C`` when the log-probs have no mask column).
    """
    return subs_log_softmax(log_probs, x_t, mask_id)


def reveal_probability(schedule: Schedule, t: Tensor, s: Tensor, ndim: int = 2) -> Tensor:
    """``(alpha(s) - alpha(t)) / (1 - alpha(t))`` in float64, clamped to ``[0, 1]``, shaped ``(B, 1, ..., 1)``.

    The probability that an id masked at time ``t`` is revealed by time ``s < t``; ``ndim`` is the
    number of dimensions of the id tensor it will broadcast against.
    """
    return reveal_from_alphas(*_alphas(schedule, t, s, ndim))


def reveal_from_alphas(a_t: Tensor, a_s: Tensor) -> Tensor:
    """:func:`reveal_probability` from ``alpha(t)`` and ``alpha(s)`` already evaluated (float64, any shape)."""
    return ((a_s - a_t) / (1 - a_t).clamp_min(1e-30)).clamp(0.0, 1.0)


def grid_alphas(schedule: Schedule, times: Tensor, ndim: int = 2) -> Tensor:
    """``alpha`` at every time of a chain's grid ``times (N + 1, B)``, float64, shaped ``(N + 1, B, 1, ..., 1)``.

    One schedule call (one time check) for a whole chain: step ``i`` reads rows ``i`` and ``i + 1``, which
    broadcast against ``(B, ...)`` ids of ``ndim`` dimensions.
    """
    a = schedule.alpha(times).double()  # (N + 1, B)
    return a.reshape(*a.shape, *([1] * (ndim - 1)))


def _alphas(schedule: Schedule, t: Tensor, s: Tensor, ndim: int) -> tuple[Tensor, Tensor]:
    """``alpha(t)`` and ``alpha(s)`` in float64, each ``(B, 1, ..., 1)``, from one schedule call."""
    both = grid_alphas(schedule, torch.stack(torch.broadcast_tensors(t, s)), ndim)  # (2, B, 1, ...)
    return both[0], both[1]


def posterior_step(
    state: Tensor, mask_id: int, p_reveal: Tensor, draw: Draw, generator: torch.Generator | None = None
) -> Tensor:
    """One reverse step ``t -> s``: each masked id is revealed w.p. ``p_reveal`` and filled by ``draw``.

    One float64 uniform ``u`` in ``(0, 1]`` per id is drawn first (all positions, so the stream does not depend on
    the state).  A masked id is revealed when ``u <= p_reveal``; with a picking draw (see :data:`Draw`) the class
    is then the inverse-CDF draw at ``u / p_reveal`` (uniform on ``(0, 1]`` given the reveal, so one uniform does
    both), else ``draw(state, reveal)`` draws it.  Revealed ids are never changed.

    Args:
        state: ids at time ``t`` ``(B, ...)``.
        mask_id: the absorbing id.
        p_reveal: :func:`reveal_probability` ``(B, 1, ..., 1)``.
        draw: fills the revealed positions (:func:`sparse_categorical`, :func:`dense_categorical`, ...).
        generator: random source.
    """
    u = uniform(state.shape, generator, state.device)  # (B, ...) in (0, 1]
    masked = state == mask_id
    return torch.where(masked, _revealed(state, masked, mask_id, u, p_reveal, draw), state)


def _revealed(state: Tensor, masked: Tensor, mask_id: int, u: Tensor, p_reveal: Tensor, draw: Draw) -> Tensor:
    """Ids at the ``masked`` positions after a reveal step with uniforms ``u`` in ``(0, 1]``: a drawn class where
    ``u <= p_reveal``, the mask elsewhere (other positions unspecified).  A picking draw gets ``u / p_reveal``
    (``p_reveal = 0`` gives ``inf``: stays masked); a plain one is called at the revealed positions."""
    pick = getattr(draw, "pick", None)
    if pick is not None:
        return pick(u / p_reveal, masked, mask_id)
    return draw(state, masked & (u <= p_reveal))


def remasking_bound(schedule: Schedule, t: Tensor, s: Tensor, ndim: int = 2) -> Tensor:
    """``sigma_max = min(1, (1 - alpha(s)) / alpha(t))`` in float64, shaped ``(B, 1, ..., 1)``.

    The largest remasking probability for which the ReMDM step (:func:`remasking_step`) is still a
    valid posterior with the forward marginals ``q(x_s | x_0)`` (Wang et al. 2025, "Remasking
    discrete diffusion models"): with ``sigma <= sigma_max`` the reveal probability of a masked id,
    ``(alpha_s - (1 - sigma) alpha_t) / (1 - alpha_t)``, lies in ``[0, 1]``.
    """
    return _bound(*_alphas(schedule, t, s, ndim))


def _bound(a_t: Tensor, a_s: Tensor) -> Tensor:
    """:func:`remasking_bound` from ``alpha(t)`` and ``alpha(s)`` already computed (float64)."""
    return ((1 - a_s) / a_t.clamp_min(1e-30)).clamp(0.0, 1.0)


def remasking_step(
    state: Tensor,
    mask_id: int,
    schedule: Schedule,
    t: Tensor,
    s: Tensor,
    sigma: Tensor | Callable[[Tensor], Tensor],
    draw: Draw,
    generator: torch.Generator | None = None,
    frozen: Tensor | None = None,
) -> Tensor:
    """One ReMDM reverse step ``t -> s``: masked ids are revealed, revealed ids may be re-masked.

    ``q_sigma(x_s | x_t, x_0)``: a revealed id becomes the mask w.p. ``sigma`` (else stays); a masked
    id is revealed w.p. ``(alpha_s - (1 - sigma) alpha_t) / (1 - alpha_t)`` with a ``draw`` from
    ``p(x_0 | x_t)``.  ``sigma = 0`` is exactly :func:`posterior_step` (same single float64 uniform per
    id, decided by its state, and the same draws), so the two agree sample for sample.
    :func:`remasking_probabilities` then :func:`remasking_move`; a chain on a fixed grid calls the first
    once for all its steps.

    Args:
        state: ids at time ``t`` ``(B, ...)``.
        mask_id: the absorbing id.
        schedule: gives ``alpha``.
        t, s: times ``(B,)``, ``s < t``.
        sigma: remasking probability ``(B, 1, ..., 1)`` (or broadcastable), at most
            :func:`remasking_bound`; larger values are clamped to it.  Or a function of that bound
            (float64 ``(B, 1, ..., 1)``) returning it, so a strategy defined relative to the bound reuses the
            alphas computed here instead of evaluating the schedule again.
        draw: fills the revealed positions.
        generator: random source.
        frozen: ``(B, ...)`` ids that are never re-masked (given tokens of a condition); none when ``None``.
    """
    sig, p_reveal = remasking_probabilities(*_alphas(schedule, t, s, state.dim()), sigma)
    return remasking_move(state, mask_id, sig, p_reveal, draw, generator, frozen)


def remasking_probabilities(
    a_t: Tensor, a_s: Tensor, sigma: Tensor | Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    """The ReMDM step's ``(sigma, p_reveal)`` (float64) from ``alpha(t)``, ``alpha(s)`` of any matching shape.

    ``sigma`` (a tensor or a function of the bound, see :func:`remasking_step`) is clamped to
    :func:`remasking_bound`; elementwise, so a whole grid (:func:`grid_alphas`) is done in one go.
    """
    bound = _bound(a_t, a_s)
    sig = torch.minimum((sigma(bound) if callable(sigma) else sigma).double(), bound)
    return sig, ((a_s - (1 - sig) * a_t) / (1 - a_t).clamp_min(1e-30)).clamp(0.0, 1.0)


def remasking_move(
    state: Tensor,
    mask_id: int,
    sigma: Tensor,
    p_reveal: Tensor,
    draw: Draw,
    generator: torch.Generator | None = None,
    frozen: Tensor | None = None,
) -> Tensor:
    """The random part of :func:`remasking_step`, given its :func:`remasking_probabilities` ``(B, 1, ..., 1)``.

    One float64 uniform ``u`` in ``(0, 1]`` per id: a revealed id is re-masked when ``u <= sigma``; a masked id is
    revealed as in :func:`posterior_step` (``u <= p_reveal``, the class from the same ``u`` with a picking draw).
    """
    u = uniform(state.shape, generator, state.device)  # (B, ...) in (0, 1]
    masked = state == mask_id
    remask = u <= sigma  # read at revealed ids only
    if frozen is not None:
        remask &= ~frozen
    kept = torch.where(remask, mask_id, state)
    return torch.where(masked, _revealed(state, masked, mask_id, u, p_reveal, draw), kept)


def finalize(state: Tensor, mask_id: int, draw: Draw) -> Tensor:
    """The last step (``s = 0``): every id still masked is filled by ``draw``."""
    return draw(state, state == mask_id)


def sparse_categorical(log_probs: Tensor, generator: torch.Generator | None = None) -> PosteriorDraw:
    """A :data:`Draw` sampling ``exp(log_probs (B, ..., C))`` (float64) at the ``where`` positions.

    :meth:`ladd_core.posterior.TokenPosterior.draw` of those log-probs: large tensors are drawn at the selected
    rows only (long sequences), small ones densely.
    """
    return TokenPosterior.from_log_probs(log_probs).draw(generator)


def dense_categorical(log_probs: Tensor, generator: torch.Generator | None = None) -> PosteriorDraw:
    """A :data:`Draw` sampling ``exp(log_probs)`` (float64) at every position, kept at ``where``, whatever the size."""
    return TokenPosterior.from_log_probs(log_probs, dense=True).draw(generator)


def softmax_categorical(logits: Tensor, generator: torch.Generator | None = None) -> PosteriorDraw:
    """A :data:`Draw` sampling ``softmax(logits (B, ..., C))`` (float64) at every position, kept at ``where``.

    The dense draw of raw logits whose classes are all ids (leave a mask column out before calling): ``exp`` of the
    logits (the shifted softmax where a row overflows) and one inverse-CDF draw per position.  Raises
    :class:`~ladd_core.numerics.NonFiniteError` when a row is not finite.
    """
    return TokenPosterior.from_logits(logits, dense=True).draw(generator)
