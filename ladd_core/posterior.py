"""``TokenPosterior``: the denoiser's ``p(x_0 | x_t)`` as samplers draw from it.

A reverse step draws ``x_0`` only where it reveals tokens: ``n`` rows of the ``(B, L, C)`` output, often a
few per step.  A :class:`TokenPosterior` keeps the raw logits of one network call and turns into weights just the
rows a draw needs (the token process's :meth:`~ladd_core.components.processes.TokenProcess.noised_weights`,
after forbidden ids; then temperature and nucleus filtering, all in float64), so a step costs a handful of small
operations instead of a full SUBS construction over every position.  The full ``(B, L, C)`` log-probs are
still there (:meth:`TokenPosterior.log_probs`, computed on first use) for samplers that need every row.

Draws are inverse-CDF in float64 from uniforms the caller may supply (:meth:`TokenPosterior.pick`): a step that
reveals a masked id w.p. ``p`` and draws its class uses one uniform ``u`` for both (``w = u / p``), so a
small model's step runs few kernels (on a CPU each costs more than its arithmetic right after a network call).

Both paths apply the same math in the same order (forbidden ids to ``-inf`` before normalising, then
:func:`~ladd_core.numerics.adjust_log_probs`); the row path works in float64, the full path in the
process's float32, so they agree to float32 rounding.  Weights are ``exp`` of the logits without a shift (cheap);
where a row overflows or underflows, the draw falls back to the shifted (full SUBS) probabilities.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ladd_core.numerics import (
    NonFiniteError,
    adjust_log_probs,
    categorical_index,
    check_finite,
    check_sampling_options,
    uniform,
)

if TYPE_CHECKING:
    from ladd_core.components.processes import TokenProcess

__all__ = ["Positions", "PosteriorDraw", "TokenPosterior", "as_posterior"]

Positions = tuple[Tensor, ...]
"""Positions as index tensors, one per dimension of ``x_t`` (``mask.nonzero(as_tuple=True)``)."""


class TokenPosterior:
    """``p(x_0 | x_t)`` of one denoiser call over ids ``x_t (B, ...)``, normalised on demand.

    Build it from raw ``logits``, ``x_t`` and the token ``process`` (what :meth:`ladd_core.model.LaddModel.posterior`
    does for every built-in sampler: ``forbidden_ids`` get probability exactly 0, their logits set to ``-inf``
    before normalising; ``temperature`` and ``top_p`` then act on the normalised log-probs), or with
    :meth:`from_log_probs` (any full log-prob tensor, e.g. in tests), or :meth:`from_logits` (every column a
    class).  Rows are only
    ever drawn at *noised* positions of ``x_t`` (at a clean position SUBS makes ``x_0 = x_t``, so no draw is
    needed); :meth:`log_probs` gives every position.

    Non-finite values: a drawn row whose probabilities are not a positive, finite measure raises
    :class:`~ladd_core.numerics.NonFiniteError` (no NaN reaches a sample); :meth:`log_probs` checks the
    whole logits tensor.
    """

    __slots__ = ("_dense", "_forbidden", "_full", "_logits", "_process", "_temperature", "_top_p", "x_t")

    dense_limit: ClassVar[int] = 1 << 16
    """Posteriors with at most this many logits (``B * L * C``) are drawn densely (see :meth:`pick`)."""

    def __init__(
        self,
        x_t: Tensor | None,
        *,
        logits: Tensor | None = None,
        log_probs: Tensor | None = None,
        process: TokenProcess | None = None,
        forbidden_ids: tuple[int, ...] = (),
        temperature: float = 1.0,
        top_p: float = 1.0,
        dense: bool | None = None,
    ) -> None:
        if (logits is None) == (log_probs is None) or (process is not None and x_t is None):
            raise ValueError("TokenPosterior needs either logits (with x_t when a process is given) or log_probs")
        check_sampling_options(temperature, top_p)
        self.x_t = x_t
        self._logits = logits
        self._full = log_probs
        self._process = process
        self._forbidden = forbidden_ids
        self._temperature, self._top_p = temperature, top_p
        self._dense = dense

    @classmethod
    def from_log_probs(
        cls, log_probs: Tensor, x_t: Tensor | None = None, *, dense: bool | None = None
    ) -> TokenPosterior:
        """A posterior given by full log-probs ``(B, ..., C)`` (used as they are, rows rescaled when drawn; ``x_t``
        is only recorded).  ``dense``: always draw every row (``True``), never (``False``), or by size (``None``)."""
        return cls(x_t, log_probs=log_probs, dense=dense)

    @classmethod
    def from_logits(cls, logits: Tensor, *, dense: bool | None = None) -> TokenPosterior:
        """A posterior whose every column of ``logits (B, ..., C)`` is a class: ``softmax(logits)`` (e.g. the
        codes of a VQ latent, mask column left out)."""
        return cls(None, logits=logits, dense=dense)

    def log_probs(self) -> Tensor:
        """``log p(x_0 | x_t)`` at every position, ``(B, ..., C)`` (computed once, then kept)."""
        if self._full is None:
            assert self._logits is not None
            logits = self._allowed(check_finite(self._logits, "denoiser logits"))
            if self._process is None:
                lp = torch.log_softmax(logits.float(), dim=-1)  # (B, ..., C)
            else:
                assert self.x_t is not None
                lp = self._process.log_probs(logits, self.x_t)  # (B, ..., C)
            self._full = adjust_log_probs(lp, self._temperature, self._top_p)
        return self._full

    def probs(self, where: Positions | None = None) -> Tensor:
        """Float64 probabilities ``(n, C')`` at the ``n`` noised positions ``where``, ``C' <= C``; with ``None``,
        ``(B, ..., C')`` at every position, of which only the noised positions' rows are ``p(x_0 | x_t)``.

        Classes ``>= C'`` have probability 0 (an absorbing process leaves its trailing mask column out).
        Rows sum to 1 up to rounding.  Where the cheap :meth:`weights` of a row over- or underflow, every row comes
        from :meth:`log_probs` (``C`` columns).

        Raises:
            NonFiniteError: the logits are not finite.
        """
        w = self.weights(where)
        total = w.sum(dim=-1, keepdim=True)
        if self._full is None and not math.isfinite(float(total.log().sum())):
            return self._shifted_weights(where)
        return w / total

    def weights(self, where: Positions | None = None) -> Tensor:
        """Non-negative float64 weights ``(n, C')`` (or ``(B, ..., C')``), proportional to :meth:`probs`: the cheap
        form a draw rescales itself.  Extreme logits may overflow to ``inf`` or underflow to 0 in a row; a draw then
        falls back to :meth:`log_probs`."""
        if self._full is not None:
            return (self._full if where is None else self._full[where]).double().exp()
        assert self._logits is not None
        logits = self._allowed(self._logits if where is None else self._logits[where])  # (n, C) or (B, ..., C)
        if self._process is None:
            w = logits.double().exp()
        else:
            assert self.x_t is not None
            w = self._process.noised_weights(logits, self.x_t, where)  # float64, C' columns
        if self._temperature != 1.0 or self._top_p != 1.0:
            w = adjust_log_probs(torch.log_softmax(w.log(), dim=-1), self._temperature, self._top_p).exp()
        return w

    def _allowed(self, logits: Tensor) -> Tensor:
        """``logits (..., C)`` with the forbidden ids' columns at ``-inf`` (the same tensor when there are none)."""
        if not self._forbidden:
            return logits
        return logits.float().index_fill(-1, torch.tensor(self._forbidden, device=logits.device), float("-inf"))

    def _index(self, w: Tensor, where: Positions | None) -> tuple[Tensor, Tensor, Tensor]:
        """Inverse-CDF index of ``w`` (``(n,)`` at ``where``, or at every position) with the weights used and their
        row totals; the shifted probabilities of :meth:`log_probs` where the cheap weights are not finite."""
        weights = self.weights(where)
        try:
            idx, total = categorical_index(weights, w)
        except NonFiniteError:
            if self._full is not None:
                raise
            weights = self._shifted_weights(where)
            idx, total = categorical_index(weights, w)
        return idx, weights, total

    def _shifted_weights(self, where: Positions | None) -> Tensor:
        """Probabilities from :meth:`log_probs` (``C`` columns; checks the logits): stable where ``exp`` of the raw
        logits is not."""
        full = self.log_probs()
        return (full if where is None else full[where]).double().exp()

    @staticmethod
    def _filled(idx: Tensor, classes: int, fill: int | None) -> Tensor:
        """``idx`` with "no class" (index ``classes``) replaced by ``fill`` (nothing to do when they are equal)."""
        return idx if fill is None or classes == fill else torch.where(idx == classes, fill, idx)

    def _is_dense(self) -> bool:
        if self._dense is not None:
            return self._dense
        source = self._full if self._logits is None else self._logits
        assert source is not None
        return source.numel() <= self.dense_limit

    def pick(self, w: Tensor, where: Tensor, fill: int | None) -> Tensor:
        """Ids ``(B, ...)`` from float64 ``w (B, ...)`` in ``(0, inf]`` at the (noised) positions ``where``: the
        ``x_0`` class whose CDF interval holds ``w`` where ``w <= 1`` (an inverse-CDF draw when ``w`` is uniform),
        ``fill`` where ``w > 1``; other positions are unspecified.  ``fill=None``: the caller's ``w`` never exceeds 1.

        A step that reveals w.p. ``p`` passes ``w = u / p`` with one uniform ``u``
        (:func:`~ladd_core.numerics.uniform`) and ``fill`` = the mask id.  A posterior of at most :attr:`dense_limit`
        logits computes every position (a few kernels, no gather or scatter: what a small model's step costs is
        the number of kernels); a larger one only the rows where ``where`` holds and ``w <= 1``.

        Raises:
            NonFiniteError: a row that is drawn (dense: any row) is not a finite distribution.
        """
        if self._is_dense():
            idx, weights, _ = self._index(w, None)  # (B, ...)
            return self._filled(idx, weights.shape[-1], fill)
        ids = torch.full(w.shape, 0 if fill is None else fill, dtype=torch.long, device=w.device)
        pos = (where if fill is None else where & (w <= 1)).nonzero(as_tuple=True)
        if pos[0].numel():
            idx, weights, _ = self._index(w[pos], pos)  # (n,)
            ids = ids.index_put(pos, self._filled(idx, weights.shape[-1], fill))
        return ids

    def sample(
        self, state: Tensor, where: Tensor, generator: torch.Generator | None = None, *, with_probs: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Fresh ``x_0`` ids at the noised positions ``where (B, ...)`` of ``state`` (which is ``x_t``), the rest kept:
        one float64 uniform per position (whatever ``where`` is, so the stream does not depend on the state) and
        :meth:`pick`.

        Returns the new state and, with ``with_probs``, the probability of each drawn id ``(B, ...)`` float64
        (unspecified outside ``where``).

        Raises:
            NonFiniteError: a row that is drawn (dense: any row) is not a finite distribution.
        """
        u = uniform(state.shape, generator, state.device)  # (B, ...) in (0, 1]
        if not with_probs:
            return torch.where(where, self.pick(u, where, None), state), None
        ids, probs = self._candidates(u, where)
        return torch.where(where, ids, state), probs

    def candidates(self, where: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """A fresh ``x_0`` id at every (noised) position of ``where (B, ...)`` and its probability: ``(ids, probs)``,
        ``(B, ...)`` long and float64, unspecified outside ``where`` (a confidence-ordered sampler ranks them).  One
        float64 uniform per position, as :meth:`sample`.

        Raises:
            NonFiniteError: a row that is drawn (dense: any row) is not a finite distribution.
        """
        return self._candidates(uniform(where.shape, generator, where.device), where)

    def _candidates(self, u: Tensor, where: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`candidates` from the uniforms ``u`` in ``(0, 1]`` (so every index is a class)."""
        if self._is_dense():
            idx, weights, total = self._index(u, None)  # (B, ...)
            return idx, weights.gather(-1, idx[..., None]).div_(total).squeeze(-1)  # (B, ...) each
        ids = torch.zeros(where.shape, dtype=torch.long, device=where.device)
        probs = torch.zeros(where.shape, dtype=torch.float64, device=where.device)
        pos = where.nonzero(as_tuple=True)
        if pos[0].numel():
            idx, weights, total = self._index(u[pos], pos)  # (n,)
            ids = ids.index_put(pos, idx)
            probs = probs.index_put(pos, weights.gather(-1, idx[:, None]).div_(total).squeeze(-1))
        return ids, probs

    def draw(self, generator: torch.Generator | None = None) -> PosteriorDraw:
        """A :data:`~ladd_core.components.absorbing.Draw` from this posterior that can also :meth:`pick`."""
        return PosteriorDraw(self, generator)


class PosteriorDraw:
    """``draw(state, where)``: fresh ``x_0`` ids of a :class:`TokenPosterior` at the (noised) positions ``where``
    (:meth:`TokenPosterior.sample`); ``draw.pick(w, where, fill)``: the same draw from given uniforms
    (:meth:`TokenPosterior.pick`), which :func:`~ladd_core.components.absorbing.posterior_step` uses to reveal and
    draw with one uniform."""

    __slots__ = ("generator", "posterior")

    def __init__(self, posterior: TokenPosterior, generator: torch.Generator | None) -> None:
        self.posterior, self.generator = posterior, generator

    def __call__(self, state: Tensor, where: Tensor) -> Tensor:
        return self.posterior.sample(state, where, self.generator)[0]

    def pick(self, w: Tensor, where: Tensor, fill: int | None) -> Tensor:
        return self.posterior.pick(w, where, fill)


def as_posterior(p: TokenPosterior | Tensor, x_t: Tensor) -> TokenPosterior:
    """``p`` itself, or a full log-prob tensor ``(B, ..., C)`` at ``x_t`` wrapped as a :class:`TokenPosterior`."""
    return p if isinstance(p, TokenPosterior) else TokenPosterior.from_log_probs(p, x_t)
