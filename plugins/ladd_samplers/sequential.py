"""The ``sequential`` sampler: generate the latent completely, then the tokens given it."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.latent_protocols import SequentialSampling, as_protocol, grid_latent_step
from ladd_core.components.samplers import SampleOutput, Sampler, SamplerConfig
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_samplers._chains import grid_rows, time_grid
from ladd_samplers.ancestral import token_chain

__all__ = ["SequentialSampler", "latent_first"]


class SequentialSampler(Sampler):
    """Sequential schedule for any latent channel declaring ``"sequential"`` (``SequentialSampling``).

    Latent chain: M steps ``latent.predict_latent`` + ``latent.latent_step`` on a
    uniform grid, then one call whose prediction ``latent.latent_finalize`` turns
    into the clean latent (M + 1 calls).  Token chain: N ancestral steps with
    ``backbone(x, cond, t, t_y_cond)`` where ``(cond, t_y_cond) = latent.token_condition(y)``,
    then a noise-removal call if any mask is left.  NFE = (M + 1) + (N + 1) at most;
    only calls actually made are counted (``info`` has ``latent_nfe`` and ``token_nfe``).

    With a condition the latent is generated given the visible tokens (:func:`latent_first`)
    and the token chain starts from the partially masked sequence.

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

    def latent_read_time(self, capabilities: frozenset[str]) -> float | None:
        """0: the token chain reads the clean latent the latent chain produced."""
        return 0.0

    def _run(
        self, model: LaddModel, x: torch.Tensor, cond: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        cfg = self.config
        y, latent_nfe = latent_first(model, x, cfg.latent_steps, cfg.t_final, generator, condition=cond)
        latents, t_y = as_protocol(model.latent, SequentialSampling).token_condition(y)
        x, token_nfe, saved = token_chain(model, x, cfg, generator, latents=latents, t_y=t_y, condition=cond)
        info = {
            "steps": cfg.steps,
            "latent_steps": cfg.latent_steps,
            "latent_nfe": latent_nfe,
            "token_nfe": token_nfe,
            "calls_saved": saved,
        }
        return SampleOutput(tokens=x, nfe=latent_nfe + token_nfe, latents=y, info=info)


def latent_first(
    model: LaddModel,
    tokens: torch.Tensor,
    latent_steps: int,
    t_final: float,
    generator: torch.Generator,
    *,
    condition: Condition | None = None,
) -> tuple[torch.Tensor, int]:
    """The clean latent of the sequential schedule, generated before any token, and the calls made.

    ``tokens (B, L)`` is the token state the latent is generated given: the all-mask prior, or the
    prompt/template with the rest masked.  With a condition, a channel that infers its latent
    directly from the visible tokens (``latent.prompt_latent`` returns a latent, 1 call) skips the
    chain; otherwise the chain runs M steps ``predict_latent(nets, y, t_y, tokens)`` +
    ``latent_step`` on a uniform grid and one final call (M + 1 calls).
    """
    latent, nets = as_protocol(model.latent, SequentialSampling), model.nets
    b, device = tokens.shape[0], tokens.device
    if condition is not None:
        y = latent.prompt_latent(nets, tokens, condition.visible)
        if y is not None:
            return y, 1

    grid = grid_rows(time_grid(latent_steps, t_final, device), b, torch.float64)  # (M + 1, B)
    step, ty = grid_latent_step(latent, grid), grid.unbind(0)
    y = latent.sample_prior(b, device, generator)
    for j in range(latent_steps):
        y = step(y, latent.predict_latent(nets, y, ty[j], tokens), j, generator)
    out = latent.predict_latent(nets, y, ty[latent_steps], tokens)
    return latent.latent_finalize(y, out, ty[latent_steps], generator), latent_steps + 1
