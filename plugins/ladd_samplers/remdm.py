"""The ``remdm`` sampler: ancestral masked-diffusion steps that also re-mask revealed tokens (ReMDM)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.absorbing import grid_alphas, remasking_move, remasking_probabilities
from ladd_core.components.samplers import SampleOutput
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_core.posterior import TokenPosterior
from ladd_samplers._chains import TokenStep, absorbing_mask_id
from ladd_samplers._modes import ModeSampler, ModeSamplerConfig, run_in_latent_mode

__all__ = ["RemdmSampler"]


class RemdmSampler(ModeSampler):
    """ReMDM remasking (Wang et al. 2025, "Remasking discrete diffusion models") for any latent.

    Each step ``t -> s`` samples ``q_sigma(x_s | x_t, x_0)`` with the denoiser's ``p(x_0 | x_t)``: a
    revealed token is re-masked w.p. ``sigma_t``; a masked one is revealed w.p.
    ``(alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t)`` with a float64 draw.  The forward marginals
    are kept for any ``0 <= sigma_t <= sigma_max = min(1, (1 - alpha_s) / alpha_t)``
    (:func:`~ladd_core.components.absorbing.remasking_bound`), which this sampler never exceeds.
    Strategies: ``cap`` ``sigma_t = min(eta, sigma_max)``; ``rescale`` ``sigma_t = eta * sigma_max``.
    ``eta = 0`` is the ancestral sampler, sample for sample.  Then one noise-removal call at ``t_final``.
    Given tokens of a condition are never re-masked.  (The paper's ``loop`` schedule, which remasks at
    a constant ``alpha`` in a middle window, and confidence-based sigma are not implemented.)

    Latent: ``latent_mode`` (see :class:`~ladd_samplers._modes.ModeSamplerConfig`); only tokens are re-masked.
    """

    class Config(ModeSamplerConfig):
        name: Literal["remdm"] = "remdm"
        strategy: Literal["cap", "rescale"] = Field(
            "cap", description="cap: sigma_t = min(eta, sigma_max); rescale: sigma_t = eta * sigma_max"
        )
        eta: float = Field(0.02, ge=0.0, le=1.0, description="remasking strength (0 = ancestral)")

    requires = frozenset()
    config: Config

    def sigma_of_bound(self, bound: torch.Tensor) -> torch.Tensor:
        """``sigma_t`` of the configured strategy from ``sigma_max`` (float64 ``(B, 1)``, see
        :func:`~ladd_core.components.absorbing.remasking_bound`): ``min(eta, bound)`` or ``eta * bound``."""
        if self.config.strategy == "cap":
            return bound.clamp_max(self.config.eta)
        return self.config.eta * bound

    def _run(
        self, model: LaddModel, x: torch.Tensor, cond: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        mask_id = absorbing_mask_id(model, "remdm")
        schedule = model.process.schedule
        frozen = None if cond is None else cond.visible

        def factory(times: torch.Tensor) -> TokenStep:
            a = grid_alphas(schedule, times)  # (N + 1, B, 1): one schedule call for the chain
            sigma, p_reveal = (v.unbind(0) for v in remasking_probabilities(a[:-1], a[1:], self.sigma_of_bound))

            def step(x: torch.Tensor, post: TokenPosterior, i: int, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
                return remasking_move(x, mask_id, sigma[i], p_reveal[i], post.draw(generator), generator, frozen)

            return step

        return run_in_latent_mode("remdm", model, self.config, x, cond, generator, factory)
