"""Token objectives ``nelbo``, ``masked-ce`` and ``masked-mean``."""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import torch
from torch import Tensor

from ladd_core.components.objectives import Objective, ObjectiveConfig, TokenLoss
from ladd_core.components.processes import TokenProcess

__all__ = ["MaskedCE", "MaskedMean", "Nelbo", "token_nll"]


def token_nll(process: TokenProcess, log_probs: Tensor, x0: Tensor, x_t: Tensor, attention_mask: Tensor) -> Tensor:
    """``-log p(x_0^l | x_t)`` at noised, real positions, zero elsewhere; ``(B, L)``."""
    nll = -log_probs.gather(-1, x0[..., None]).squeeze(-1)  # (B, L)
    scored = process.is_noised(x_t) & attention_mask.bool()
    return nll.masked_fill(~scored, 0.0)


class _MaskedTokenObjective(Objective):
    """The loss on the noised real positions, ``-log p(x_0^l | x_t)``, with the NELBO reported alongside.

    A subclass says what it optimises by its :meth:`loss`.
    """

    def __call__(
        self, process: TokenProcess, log_probs: Tensor, x0: Tensor, x_t: Tensor, t: Tensor, attention_mask: Tensor
    ) -> TokenLoss:
        nll = token_nll(process, log_probs, x0, x_t, attention_mask)  # (B, L)
        nelbo = process.elbo_weight(t) * nll.sum(-1)  # (B,)
        n = attention_mask.sum(-1).clamp_min(1).to(nll.dtype)  # (B,) real tokens
        return TokenLoss(self.loss(process, nll, nelbo, n, x_t, t, attention_mask), nelbo.detach(), n)

    @abstractmethod
    def loss(
        self, process: TokenProcess, nll: Tensor, nelbo: Tensor, n: Tensor, x_t: Tensor, t: Tensor, mask: Tensor
    ) -> Tensor:
        """The ``(B,)`` training loss from the ``(B, L)`` scored ``nll``, the ``(B,)`` ``nelbo`` and real-token
        counts ``n``, the noised ``x_t``, times ``t`` and the attention ``mask``."""


class Nelbo(_MaskedTokenObjective):
    """Continuous-time NELBO: ``w(t) * sum_l -log p(x_0^l | x_t)`` with ``w = -alpha'/(1-alpha)`` (``1/t`` for linear),
    divided by the number of real tokens.  Its batch mean is an unbiased estimate of the per-token bound.
    """

    class Config(ObjectiveConfig):
        name: Literal["nelbo"] = "nelbo"

    def loss(
        self, process: TokenProcess, nll: Tensor, nelbo: Tensor, n: Tensor, x_t: Tensor, t: Tensor, mask: Tensor
    ) -> Tensor:
        return nelbo / n


class MaskedCE(_MaskedTokenObjective):
    """Unweighted masked cross-entropy ``sum_l -log p(x_0^l | x_t) / L_real`` (the LADD/MDLM-OWT training loss).

    The NELBO is still computed and reported, but not optimised.
    """

    class Config(ObjectiveConfig):
        name: Literal["masked-ce"] = "masked-ce"

    def loss(
        self, process: TokenProcess, nll: Tensor, nelbo: Tensor, n: Tensor, x_t: Tensor, t: Tensor, mask: Tensor
    ) -> Tensor:
        return nll.sum(-1) / n


class MaskedMean(_MaskedTokenObjective):
    """The bound's weighting with less variance: ``-alpha'(t) * mean over noised positions of -log p(x_0^l | x_t)``.

    The NELBO per token is ``w(t) sum_l nll_l / L`` with ``w = -alpha'/(1-alpha)``; an absorbing process noises
    ``(1 - alpha_t) L`` positions in expectation, so ``-alpha'(t) sum_l nll_l / #noised`` has the same weight on
    every time but divides by the count actually drawn (a ratio estimator: no ``1/t`` blow-up at small ``t``,
    where ``nelbo`` has its variance), and by ``P(#noised > 0) = 1 - alpha_t^n`` so that its expectation is the
    bound's at every time when the per-position losses do not depend on how many are noised.  ``masked-ce``
    weights time ``t`` by ``(1 - alpha_t) / -alpha'(t)`` instead (``t`` for linear), so it trains the nearly-clean
    times, which the bound counts fully, almost not at all.  Absorbing processes only.
    """

    class Config(ObjectiveConfig):
        name: Literal["masked-mean"] = "masked-mean"

    def loss(
        self, process: TokenProcess, nll: Tensor, nelbo: Tensor, n: Tensor, x_t: Tensor, t: Tensor, mask: Tensor
    ) -> Tensor:
        if "absorbing" not in type(process).capabilities:
            raise ValueError(f"objective 'masked-mean' needs an absorbing token process, got {type(process).__name__}")
        noised = (process.is_noised(x_t) & mask.bool()).sum(-1).clamp_min(1).to(nll.dtype)  # (B,)
        alpha = process.schedule.alpha(t).to(nll.dtype)  # (B,)
        # P(at least one of the n real tokens is noised) = 1 - alpha^n: a row with none scores 0, so dividing by it
        # keeps the estimate unbiased at times below ~1/n (where the plain ratio would undercount them)
        p_any = (-torch.expm1(n * torch.log(alpha))).clamp_min(torch.finfo(nll.dtype).tiny)  # (B,)
        return -process.schedule.alpha_derivative(t).to(nll.dtype) * nll.sum(-1) / noised / p_any
