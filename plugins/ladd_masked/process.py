"""The absorbing ("masked") token process with the SUBS parameterisation (MDLM)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor

from ladd_core.components.processes import NoisedTokens, TokenProcess, TokenProcessConfig
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import sample_categorical

__all__ = ["NEG", "MaskedProcess"]

NEG = -1e9
"""Finite stand-in for log(0): exp(NEG) == 0 and 0 * NEG == 0, so no NaN can appear downstream."""


class MaskedProcess(TokenProcess):
    """Absorbing-state diffusion: each token is replaced by the mask id ``m = vocab_size`` w.p. ``1 - alpha(t)``.

    ``q(x_t^l | x_0^l) = alpha(t) delta(x_0^l) + (1 - alpha(t)) delta(m)``; padding is never masked.
    SUBS: the mask's logit is removed, and at unmasked positions ``p(x_0 | x_t)`` is a Dirac on ``x_t``.
    Reverse step for ``s < t`` at a masked position: stay masked w.p. ``(1-alpha_s)/(1-alpha_t)``,
    else reveal ``v`` w.p. proportional to ``p(x_0 = v | x_t)``.
    """

    class Config(TokenProcessConfig):
        name: Literal["masked"] = "masked"
        schedule: Annotated[ComponentConfig, Ref("schedule")] = ref("schedule", "linear")

    capabilities = frozenset({"absorbing"})

    def __init__(self, config: Config, schedule: Schedule, vocab_size: int) -> None:
        super().__init__(config, schedule, vocab_size)
        self.mask_id = vocab_size

    @property
    def num_classes(self) -> int:
        return self.vocab_size + 1

    def forward_sample(
        self, x0: Tensor, t: Tensor, maskable: Tensor, generator: torch.Generator | None = None
    ) -> NoisedTokens:
        alpha = self.schedule.alpha(t)[:, None]  # (B, 1)
        u = torch.rand(x0.shape, generator=generator, device=x0.device)
        noised = (u < 1 - alpha) & maskable.bool()  # (B, L)
        return NoisedTokens(torch.where(noised, torch.full_like(x0, self.mask_id), x0), noised)

    def log_probs(self, logits: Tensor, x_t: Tensor) -> Tensor:
        lp = logits.float()
        lp = lp.index_fill(-1, torch.tensor([self.mask_id], device=lp.device), float("-inf"))
        lp = torch.log_softmax(lp, dim=-1).clamp_min(NEG)  # (B, L, C)
        unmasked = x_t != self.mask_id  # (B, L)
        dirac = torch.full_like(lp, NEG).scatter(-1, x_t.clamp_max(self.num_classes - 1)[..., None], 0.0)
        return torch.where(unmasked[..., None], dirac, lp)

    def elbo_weight(self, t: Tensor) -> Tensor:
        return self.schedule.masked_elbo_weight(t)

    def prior(self, batch_size: int, length: int, device: torch.device) -> Tensor:
        return torch.full((batch_size, length), self.mask_id, dtype=torch.long, device=device)

    def is_noised(self, x_t: Tensor) -> Tensor:
        return x_t == self.mask_id

    def reverse_step(
        self, x_t: Tensor, log_p_x0: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        a_t = self.schedule.alpha(t).double()[:, None]  # (B, 1)
        a_s = self.schedule.alpha(s).double()[:, None]
        p_reveal = ((a_s - a_t) / (1 - a_t).clamp_min(1e-30)).clamp(0.0, 1.0)  # (B, 1)
        masked = self.is_noised(x_t)
        u = torch.rand(x_t.shape, generator=generator, device=x_t.device, dtype=torch.float64)
        reveal = masked & (u < p_reveal)  # (B, L)
        return _draw_at(x_t, reveal, log_p_x0, generator)

    def finalize(self, x_t: Tensor, log_p_x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return _draw_at(x_t, self.is_noised(x_t), log_p_x0, generator)


def _draw_at(x_t: Tensor, where: Tensor, log_p_x0: Tensor, generator: torch.Generator | None) -> Tensor:
    """``x_t`` with a float64 categorical draw from ``exp(log_p_x0)`` at the ``where (B, L)`` positions only."""
    out = x_t.clone()
    idx = where.nonzero(as_tuple=True)
    if idx[0].numel():
        out[idx] = sample_categorical(log_p_x0[idx].double().exp(), generator)  # (n, C) rows only
    return out
