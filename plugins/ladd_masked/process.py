"""The absorbing ("masked") token process with the SUBS parameterisation (MDLM)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor

from ladd_core.components.absorbing import (
    NEG,
    absorb,
    finalize,
    posterior_step,
    reveal_probability,
    sparse_categorical,
    subs_log_probs,
)
from ladd_core.components.processes import NoisedTokens, TokenProcess, TokenProcessConfig
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref

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
        lp = logits.float()
        lp = lp.index_fill(-1, torch.tensor([self.mask_id], device=lp.device), float("-inf"))
        lp = torch.log_softmax(lp, dim=-1).clamp_min(NEG)  # (B, L, C)
        return subs_log_probs(lp, x_t, self.mask_id)

    def elbo_weight(self, t: Tensor) -> Tensor:
        return self.schedule.masked_elbo_weight(t)

    def prior(self, batch_size: int, length: int, device: torch.device) -> Tensor:
        return torch.full((batch_size, length), self.mask_id, dtype=torch.long, device=device)

    def is_noised(self, x_t: Tensor) -> Tensor:
        return x_t == self.mask_id

    def reverse_step(
        self, x_t: Tensor, log_p_x0: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        p_reveal = reveal_probability(self.schedule, t, s, x_t.dim())  # (B, 1)
        return posterior_step(x_t, self.mask_id, p_reveal, sparse_categorical(log_p_x0, generator), generator)

    def finalize(self, x_t: Tensor, log_p_x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return finalize(x_t, self.mask_id, sparse_categorical(log_p_x0, generator))
