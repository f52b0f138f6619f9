"""A latent of discrete ids diffused by the shared absorbing (masking) process.

:class:`AbsorbingLatent` implements the process pieces every masked latent shares, with explicit times
(:mod:`ladd_core.components.absorbing`): the forward draw (each id masked w.p. ``1 - alpha(t)``), the
all-mask prior, the posterior step ``t -> s`` and the final fill, and the masked NLL with its ELBO weight.
A channel adds how its ids are read (:meth:`~AbsorbingLatent.masked_input`, ``network_input``) and
predicted (:meth:`~AbsorbingLatent.draw`), its encoder and its loss.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from ladd_core.components.absorbing import (
    Draw,
    absorb,
    finalize,
    grid_alphas,
    posterior_step,
    reveal_from_alphas,
    reveal_probability,
)
from ladd_core.components.latent_process import CleanLatent, DiffusedLatent, LatentStep, NoisedLatent
from ladd_core.components.latent_protocols import LatentGridStep
from ladd_core.components.schedules import Schedule

__all__ = ["AbsorbingLatent"]


class AbsorbingLatent(DiffusedLatent):
    """Masked diffusion on ids ``(B, *state_shape)``; subclasses set :attr:`schedule` and :attr:`mask_id`."""

    schedule: Schedule
    """The masking schedule; ``alpha(t)`` is the probability an id is still visible."""
    mask_id: int
    """State id of a masked entry."""

    @property
    @abstractmethod
    def state_shape(self) -> tuple[int, ...]:
        """Shape of one example's ids, e.g. ``(K,)`` codes or ``(K, b)`` bits."""

    @abstractmethod
    def masked_input(self, clean_input: Tensor, masked: Tensor) -> Tensor:
        """The network input of ``y_t``: ``clean_input (B, K, input_dim)`` with the ``masked`` entries replaced."""

    @abstractmethod
    def draw(self, latent_out: Tensor, state: Tensor, generator: torch.Generator | None) -> Draw:
        """A float64 draw of clean ids from the prediction ``latent_out`` made at ``state``."""

    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        """Each id masked w.p. ``1 - alpha(t)``; ``noise`` is the masked entries."""
        state, masked = absorb(clean.value, self.schedule.alpha(t), self.mask_id, generator=generator)
        return NoisedLatent(state, self.masked_input(clean.input, masked), masked)

    def masked_nll(self, log_probs: Tensor, step: LatentStep) -> tuple[Tensor, Tensor]:
        """``-log p(y_0)`` at the masked entries (0 elsewhere) ``(B, *state_shape)`` and the ELBO weight ``(B,)``.

        ``log_probs (B, *state_shape, C)`` are the SUBS log-probabilities of the clean ids given ``y_t``.
        """
        assert step.noised is not None and step.times is not None
        y0, masked = step.clean.value, step.noised.noise
        nll = (-log_probs.gather(-1, y0[..., None]).squeeze(-1)).masked_fill(~masked, 0.0)
        return nll, self.schedule.masked_elbo_weight(step.times.t.clamp_min(self.t_min))

    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """All-mask ids ``(B, *state_shape)``."""
        return torch.full((batch_size, *self.state_shape), self.mask_id, dtype=torch.long, device=device)

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Masked posterior step: a masked id is revealed w.p. ``(a_s - a_t) / (1 - a_t)`` and drawn."""
        draw = self.draw(latent_out, state, generator)
        p_reveal = reveal_probability(self.schedule, t, s, state.dim())  # (B, 1, ..., 1)
        return posterior_step(state, self.mask_id, p_reveal, draw, generator)

    def grid_latent_step(self, times: Tensor) -> LatentGridStep:
        """:meth:`latent_step` along the grid ``times (M + 1, B)``, its reveal probabilities from one schedule call."""
        a = grid_alphas(self.schedule, times, 1 + len(self.state_shape))  # (M + 1, B, 1, ...)
        p_reveal = reveal_from_alphas(a[:-1], a[1:]).unbind(0)  # M rows (B, 1, ...)

        def step(state: Tensor, latent_out: Tensor, i: int, generator: torch.Generator | None) -> Tensor:
            return posterior_step(state, self.mask_id, p_reveal[i], self.draw(latent_out, state, generator), generator)

        return step

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Every id still masked is drawn."""
        return finalize(state, self.mask_id, self.draw(latent_out, state, generator))
