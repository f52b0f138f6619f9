"""The ``ancestral`` sampler for token-only models (MDLM), and the token chain other samplers reuse."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.samplers import SampleOutput, Sampler, SamplerConfig
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_core.posterior import TokenPosterior
from ladd_samplers._chains import StepFactory, ancestral_step, grid_rows, time_grid

__all__ = ["AncestralSampler", "time_grid", "token_chain"]


class AncestralSampler(Sampler):
    """MDLM ancestral sampling on a uniform grid, then one noise-removal call.

    Each step calls the denoiser once and samples ``x_s ~ p(x_s | x_t)`` in float64;
    the last call at ``t_final`` fills every remaining mask.  NFE = N + 1 without cache.
    With a condition the chain starts from the partially masked sequence (the given tokens
    revealed), so every step is the posterior given them; they never change.

    Cache: when the backbone is time-independent and a step revealed no token in
    the whole batch, the next network output would be identical, so the call is
    skipped (the random stream is unchanged, so samples are the same with or
    without it); ``info["calls_saved"]`` counts the skipped calls.
    """

    class Config(SamplerConfig):
        name: Literal["ancestral"] = "ancestral"
        cache: bool = Field(True, description="skip calls when nothing changed and the model is time-independent")

    requires = frozenset({"no_latent"})

    def _run(
        self, model: LaddModel, x: torch.Tensor, cond: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        cfg = self.config
        x, nfe, saved = token_chain(model, x, cfg, generator, latents=None, t_y=None, condition=cond)
        return SampleOutput(tokens=x, nfe=nfe, info={"calls_saved": saved, "steps": cfg.steps})


def token_chain(
    model: LaddModel,
    x: torch.Tensor,
    cfg: SamplerConfig,
    generator: torch.Generator,
    *,
    latents: torch.Tensor | None,
    t_y: torch.Tensor | None,
    condition: Condition | None = None,
    step: StepFactory | None = None,
) -> tuple[torch.Tensor, int, int]:
    """Run ``cfg.steps`` token steps from ``x (B, L)`` with a fixed latent condition, then noise removal.

    The backbone is called as ``backbone(x, latents, t, t_y)``.  ``step`` makes the token step that moves
    ``t -> s`` from the grid (default: the process's ancestral posterior step); ``condition`` (expanded to the batch) is
    re-imposed after every step and after the final fill.  Returns the clean tokens, the network
    calls made, and the calls the cache skipped (only when ``cfg.cache`` is set and the backbone
    is time-independent: a step that changed nothing leaves the next output unchanged).
    """
    proc, device, b = model.process, x.device, x.shape[0]
    grid = grid_rows(time_grid(cfg.steps, cfg.t_final, device), b, torch.float64)  # (N + 1, B)
    token_step = (step or ancestral_step(model, generator))(grid)
    times = grid.to(torch.get_default_dtype()).unbind(0)  # N + 1 rows (B,) the network reads, split once
    rows = grid.unbind(0)  # N + 1 rows (B,) float64
    use_cache = bool(getattr(cfg, "cache", False)) and not model.backbone.time_conditioned
    nfe, saved = 0, 0
    log_p: TokenPosterior | None = None

    def denoise(x: torch.Tensor, t: torch.Tensor) -> TokenPosterior:
        logits = model.backbone(x, latents, t, t_y, None).token_logits
        if logits is None:
            raise ValueError("the token chain needs a backbone that returns token_logits")
        return model.posterior(logits, x, cfg.temperature, cfg.top_p)  # over (B, L, C)

    for i in range(cfg.steps):
        if log_p is None:
            log_p = denoise(x, times[i])
            nfe += 1
        else:
            saved += 1
        x_new = token_step(x, log_p, i, rows[i], rows[i + 1])
        if condition is not None:
            x_new = condition.apply(x_new)
        if not (use_cache and torch.equal(x_new, x)):
            log_p = None
        x = x_new
    if proc.is_noised(x).any():
        if log_p is None:
            log_p = denoise(x, torch.full((b,), cfg.t_final, device=device))
            nfe += 1
        else:
            saved += 1
        x = proc.finalize(x, log_p, generator)
        if condition is not None:
            x = condition.apply(x)
    return x, nfe, saved
