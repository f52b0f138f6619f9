"""The absorbing ("masked") token process with the SUBS parameterisation (MDLM)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor

from ladd_core.components.absorbing import (
    NEG,
    absorb,
    finalize,
    grid_alphas,
    posterior_step,
    reveal_from_alphas,
    reveal_probability,
    subs_log_softmax,
)
from ladd_core.components.processes import GridStep, NoisedTokens, TokenProcess, TokenProcessConfig
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.posterior import TokenPosterior, as_posterior

__all__ = ["NEG", "MaskedProcess"]


class MaskedProcess(TokenProcess):
    """Absorbing-state diffusion: each token is replaced by the mask id ``m = vocab_size`` w.p. ``1 - alpha(t)``.

    ``q(x_t^l | x_0^l) = alpha(t) delta(x_0^l) + (1 - alpha(t)) delta(m)``; padding is never masked.
    SUBS: the mask's logit is removed, and at unmasked positions ``p(x_0 | x_t)`` is a Dirac on ``x_t``.
    Reverse step for ``s < t`` at a masked position: stay masked w.p. ``(1-alpha_s)/(1-alpha_t)``,
    else reveal ``v`` w.p. proportional to ``p(x_0 = v | x_t)``.  The math is
    :mod:`ladd_core.components.absorbing`, shared with the latent channels that mask ids.
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
        x_t, noised = absorb(x0, self.schedule.alpha(t), self.mask_id, maskable, generator)  # (B, L)
        return NoisedTokens(x_t, noised)

    def log_probs(self, logits: Tensor, x_t: Tensor) -> Tensor:
        return subs_log_softmax(logits, x_t, self.mask_id)  # (B, L, C) float32

    def noised_weights(self, logits: Tensor, x_t: Tensor, where: tuple[Tensor, ...] | None) -> Tensor:
        # At a masked position p(x_0 | x_t) is the softmax over the data ids; the mask id is the last column,
        # so leaving it out (C' = C - 1 = mask_id) gives it probability 0.  exp without a shift: a draw rescales
        # the rows and falls back to log_probs where one overflows.
        return logits[..., : self.mask_id].double().exp()  # (..., C - 1)

    def elbo_weight(self, t: Tensor) -> Tensor:
        return self.schedule.masked_elbo_weight(t)

    def prior(self, batch_size: int, length: int, device: torch.device) -> Tensor:
        return torch.full((batch_size, length), self.mask_id, dtype=torch.long, device=device)

    def is_noised(self, x_t: Tensor) -> Tensor:
        return x_t == self.mask_id

    def reverse_step(
        self, x_t: Tensor, log_p_x0: TokenPosterior | Tensor, t: Tensor, s: Tensor,
        generator: torch.Generator | None = None,
    ) -> Tensor:  # fmt: skip
        p_reveal = reveal_probability(self.schedule, t, s, x_t.dim())  # (B, 1)
        return posterior_step(x_t, self.mask_id, p_reveal, as_posterior(log_p_x0, x_t).draw(generator), generator)

    def grid_step(self, times: Tensor) -> GridStep:
        a = grid_alphas(self.schedule, times)  # (N + 1, B, 1), one schedule call for the chain
        p_reveal = reveal_from_alphas(a[:-1], a[1:]).unbind(0)  # N rows (B, 1), split once

        def step(x_t: Tensor, post: TokenPosterior | Tensor, i: int, generator: torch.Generator | None) -> Tensor:
            return posterior_step(x_t, self.mask_id, p_reveal[i], as_posterior(post, x_t).draw(generator), generator)

        return step

    def finalize(
        self, x_t: Tensor, log_p_x0: TokenPosterior | Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        return finalize(x_t, self.mask_id, as_posterior(log_p_x0, x_t).draw(generator))
