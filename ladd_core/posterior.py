"""``TokenPosterior``: the denoiser's ``p(x_0 | x_t)`` as samplers draw from it.

A reverse step draws ``x_0`` only where it reveals tokens: ``n`` rows of the ``(B, L, C)`` output, often a
few per step.  A :class:`TokenPosterior` keeps the raw logits of one network call and normalises just the
rows a draw asks for (the token process's :meth:`~ladd_core.components.processes.TokenProcess.noised_probs`,
after forbidden ids; then temperature and nucleus filtering, all in float64), so a step costs a handful of small
operations instead of a full SUBS construction over every position.  The full ``(B, L, C)`` log-probs are
still there (:meth:`TokenPosterior.log_probs`, computed on first use) for samplers that need every row.

Both paths apply the same math in the same order (forbidden ids to ``-inf`` before normalising, then
:func:`~ladd_core.numerics.adjust_log_probs`); the row path normalises in float64, the full path in the
process's float32, so they agree to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ladd_core.numerics import adjust_log_probs, check_finite, check_sampling_options, sample_categorical

if TYPE_CHECKING:
    from ladd_core.components.processes import TokenProcess

__all__ = ["Positions", "TokenPosterior", "as_posterior"]

Positions = tuple[Tensor, ...]
"""Positions as index tensors, one per dimension of ``x_t`` (``mask.nonzero(as_tuple=True)``)."""


class TokenPosterior:
    """``p(x_0 | x_t)`` of one denoiser call over ids ``x_t (B, ...)``, normalised on demand.

    Build it from raw ``logits``, ``x_t`` and the token ``process`` (what :meth:`ladd_core.model.LaddModel.posterior`
    does for every built-in sampler: ``forbidden_ids`` get probability exactly 0, their logits set to ``-inf``
    before normalising; ``temperature`` and ``top_p`` then act on the normalised log-probs), or with
    :meth:`from_log_probs` (any full log-prob tensor, e.g. in tests).  Rows are only
    ever drawn at *noised* positions of ``x_t`` (at a clean position SUBS makes ``x_0 = x_t``, so no draw is
    needed); :meth:`log_probs` gives every position.

    Non-finite values: a drawn row whose probabilities are not a positive, finite measure raises
    :class:`~ladd_core.numerics.NonFiniteError` (no NaN reaches a sample); :meth:`log_probs` checks the
    whole logits tensor.
    """

    __slots__ = ("_forbidden", "_full", "_logits", "_process", "_temperature", "_top_p", "x_t")

    dense_limit: ClassVar[int] = 1 << 16
    """Posteriors with at most this many logits (``B * L * C``) are drawn densely (see :meth:`sample`)."""

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
    ) -> None:
        if (logits is None) == (log_probs is None) or (logits is not None and (process is None or x_t is None)):
            raise ValueError("TokenPosterior needs either logits, x_t and a process, or log_probs")
        check_sampling_options(temperature, top_p)
        self.x_t = x_t
        self._logits = logits
        self._full = log_probs
        self._process = process
        self._forbidden = forbidden_ids
        self._temperature, self._top_p = temperature, top_p

    @classmethod
    def from_log_probs(cls, log_probs: Tensor, x_t: Tensor | None = None) -> TokenPosterior:
        """A posterior given by full normalised log-probs ``(B, ..., C)`` (used as they are; ``x_t`` is
        only recorded)."""
        return cls(x_t, log_probs=log_probs)

    def log_probs(self) -> Tensor:
        """``log p(x_0 | x_t)`` at every position, ``(B, ..., C)`` (computed once, then kept)."""
        if self._full is None:
            assert self._logits is not None and self._process is not None and self.x_t is not None
            logits = self._allowed(check_finite(self._logits, "denoiser logits"))
            lp = self._process.log_probs(logits, self.x_t)  # (B, ..., C)
            self._full = adjust_log_probs(lp, self._temperature, self._top_p)
        return self._full

    def probs(self, where: Positions | None = None) -> Tensor:
        """Float64 probabilities ``(n, C')`` at the ``n`` noised positions ``where``, ``C' <= C``; with ``None``,
        ``(B, ..., C')`` at every position, of which only the noised positions' rows are ``p(x_0 | x_t)``.

        Classes ``>= C'`` have probability 0 (an absorbing process leaves its trailing mask column out).
        Rows sum to 1 up to rounding, or hold a NaN where the network output was not finite.
        """
        if self._full is not None:
            return (self._full if where is None else self._full[where]).double().exp()
        assert self._logits is not None and self._process is not None and self.x_t is not None
        logits = self._allowed(self._logits if where is None else self._logits[where])  # (n, C) or (B, ..., C)
        p = self._process.noised_probs(logits, self.x_t, where)  # float64, C' columns
        if self._temperature != 1.0 or self._top_p != 1.0:
            p = adjust_log_probs(p.log(), self._temperature, self._top_p).exp()
        return p

    def _allowed(self, logits: Tensor) -> Tensor:
        """``logits (..., C)`` with the forbidden ids' columns at ``-inf`` (the same tensor when there are none)."""
        if not self._forbidden:
            return logits
        return logits.float().index_fill(-1, torch.tensor(self._forbidden, device=logits.device), float("-inf"))

    def sample(
        self, state: Tensor, where: Tensor, generator: torch.Generator | None = None, *, with_probs: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Fresh ``x_0`` ids at the noised positions ``where (B, ...)`` of ``state`` (which is ``x_t``), the rest kept.

        Returns the new state and, with ``with_probs``, the probability of each drawn id ``(B, ...)`` float64
        (unspecified outside ``where``).  A posterior of at most :attr:`dense_limit` logits draws at every
        position and keeps the chosen ones (a few kernels, no gather or scatter: what a small model's step
        costs is the number of kernels); a larger one normalises and draws the chosen rows only (the
        generator is then consumed for those rows only).  Either way each chosen id is one float64
        inverse-CDF draw from its row.

        Raises:
            NonFiniteError: a row that is drawn (dense: any row) is not a finite distribution.
        """
        normalised = self._full is None  # a softmax of logits; full log-probs get the general check
        source = self._full if self._logits is None else self._logits
        assert source is not None
        if source.numel() <= self.dense_limit:
            p = self.probs()  # (B, ..., C')
            ids = sample_categorical(p, generator, normalised=normalised)  # (B, ...)
            drawn = p.gather(-1, ids.view(*ids.shape, 1)).view(ids.shape) if with_probs else None
            return torch.where(where, ids, state), drawn
        pos = where.nonzero(as_tuple=True)
        if not pos[0].numel():
            return state, (torch.zeros(state.shape, dtype=torch.float64, device=state.device) if with_probs else None)
        p = self.probs(pos)  # (n, C')
        ids = sample_categorical(p, generator, normalised=normalised)  # (n,)
        drawn = None
        if with_probs:
            drawn = torch.zeros(state.shape, dtype=torch.float64, device=state.device)
            drawn = drawn.index_put(pos, p.gather(-1, ids.view(-1, 1)).view(-1))
        return state.index_put(pos, ids), drawn

    def draw(self, generator: torch.Generator | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """A :data:`~ladd_core.components.absorbing.Draw`: ``draw(state, where)`` puts fresh ``x_0`` ids at the
        (noised) positions ``where (B, ...)`` of ``state`` (which is ``x_t``) and keeps the rest (:meth:`sample`)."""
        return lambda state, where: self.sample(state, where, generator)[0]


def as_posterior(p: TokenPosterior | Tensor, x_t: Tensor) -> TokenPosterior:
    """``p`` itself, or a full log-prob tensor ``(B, ..., C)`` at ``x_t`` wrapped as a :class:`TokenPosterior`."""
    return p if isinstance(p, TokenPosterior) else TokenPosterior.from_log_probs(p, x_t)
