"""The ``sequential`` sampler: generate the latent completely, then the tokens given it."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.samplers import SampleOutput, Sampler, SamplerConfig
from ladd_core.model import LaddModel
from ladd_samplers.ancestral import time_grid, token_chain

__all__ = ["SequentialSampler"]


class SequentialSampler(Sampler):
    """Sequential schedule for any latent channel declaring ``"sequential"``.

    Latent chain: M steps ``latent.predict_latent`` + ``latent.latent_step`` on a
    uniform grid, then one call whose prediction ``latent.latent_finalize`` turns
    into the clean latent (M + 1 calls).  Token chain: N ancestral steps with
    ``backbone(x, cond, t, t_y_cond)`` where ``(cond, t_y_cond) = latent.token_condition(y)``,
    then a noise-removal call if any mask is left.  NFE = (M + 1) + (N + 1) at most;
    only calls actually made are counted (``info`` has ``latent_nfe`` and ``token_nfe``).

    Cache (token chain): when the backbone is time-independent and a step revealed
    nothing, the next prediction would be identical (the condition is fixed), so the
    call is skipped and counted in ``info["calls_saved"]``; samples are unchanged.
    """

    class Config(SamplerConfig):
        name: Literal["sequential"] = "sequential"
        latent_steps: int = Field(8, ge=0, description="M, latent steps before the final latent call")
        cache: bool = Field(True, description="skip token calls when nothing changed and the model is time-independent")

    requires = frozenset({"sequential"})
    config: Config

    @torch.no_grad()
    def sample(
        self, model: LaddModel, num_samples: int, *, generator: torch.Generator, length: int | None = None
    ) -> SampleOutput:
        cfg = self.config
        device = model.device
        length = length or model.seq_len
        proc, latent, nets = model.process, model.latent, model.nets
        n, m = cfg.steps, cfg.latent_steps

        def full(v: torch.Tensor | float) -> torch.Tensor:
            return torch.full((num_samples,), float(v), device=device, dtype=torch.float64)

        # -- latent chain -------------------------------------------------------------
        token_prior = proc.prior(num_samples, length, device)  # (B, L)
        ts_y = time_grid(m, cfg.t_final, device)
        y = latent.sample_prior(num_samples, device, generator)
        latent_nfe = 0
        for j in range(m):
            out = latent.predict_latent(nets, y, full(ts_y[j]), token_prior)
            latent_nfe += 1
            y = latent.latent_step(y, out, full(ts_y[j]), full(ts_y[j + 1]), generator)
        out = latent.predict_latent(nets, y, full(ts_y[m]), token_prior)
        latent_nfe += 1
        y = latent.latent_finalize(y, out, generator)

        # -- token chain --------------------------------------------------------------
        cond, t_y = latent.token_condition(y)
        x, token_nfe, saved = token_chain(model, token_prior.clone(), cfg, generator, latents=cond, t_y=t_y)
        info = {
            "steps": n,
            "latent_steps": m,
            "latent_nfe": latent_nfe,
            "token_nfe": token_nfe,
            "calls_saved": saved,
        }
        return SampleOutput(tokens=x, nfe=latent_nfe + token_nfe, latents=y, info=info)
