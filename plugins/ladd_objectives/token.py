"""Token objectives ``nelbo`` and ``masked-ce``."""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor

from ladd_core.components.objectives import Objective, ObjectiveConfig, TokenLoss
from ladd_core.components.processes import TokenProcess

__all__ = ["MaskedCE", "Nelbo", "token_nll"]


def token_nll(process: TokenProcess, log_probs: Tensor, x0: Tensor, x_t: Tensor, attention_mask: Tensor) -> Tensor:
    """``-log p(x_0^l | x_t)`` at noised, real positions, zero elsewhere; ``(B, L)``."""
    nll = -log_probs.gather(-1, x0[..., None]).squeeze(-1)  # (B, L)
    scored = process.is_noised(x_t) & attention_mask.bool()
    return nll.masked_fill(~scored, 0.0)


class _MaskedTokenObjective(Objective):
    """The loss on the noised real positions, ``-log p(x_0^l | x_t)``, with the NELBO reported alongside.

    A subclass says whether it optimises the NELBO (``weighted``) or the unweighted cross-entropy.
    """

    weighted: ClassVar[bool]

    def __call__(
        self, process: TokenProcess, log_probs: Tensor, x0: Tensor, x_t: Tensor, t: Tensor, attention_mask: Tensor
    ) -> TokenLoss:
        nll = token_nll(process, log_probs, x0, x_t, attention_mask)  # (B, L)
        nelbo = process.elbo_weight(t) * nll.sum(-1)  # (B,)
        n = attention_mask.sum(-1).clamp_min(1).to(nll.dtype)  # (B,) real tokens
        if self.weighted:
            return TokenLoss(nelbo / n, nelbo, n)
        return TokenLoss(nll.sum(-1) / n, nelbo.detach(), n)


class Nelbo(_MaskedTokenObjective):
    """Continuous-time NELBO: ``w(t) * sum_l -log p(x_0^l | x_t)`` with ``w = -alpha'/(1-alpha)`` (``1/t`` for linear),
    divided by the number of real tokens.  Its batch mean is an unbiased estimate of the per-token bound.
    """

    class Config(ObjectiveConfig):
        name: Literal["nelbo"] = "nelbo"

    weighted = True


class MaskedCE(_MaskedTokenObjective):
    """Unweighted masked cross-entropy ``sum_l -log p(x_0^l | x_t) / L_real`` (the LADD/MDLM-OWT training loss).

    The NELBO is still computed and reported, but not optimised.
    """

    class Config(ObjectiveConfig):
        name: Literal["masked-ce"] = "masked-ce"

    weighted = False
