"""Token-chain samplers that compose with any latent: the shared config and the dispatch over latent modes.

``maskgit`` and ``remdm`` differ from ``ancestral`` only in their token step (a :data:`StepFactory`);
the latent is handled by the existing chains: none (token-only models), ``sequential``
(:func:`~ladd_samplers.sequential.latent_first`, then the token chain given the clean latent) or
``joint`` (:func:`~ladd_samplers.joint.joint_chain`, one call per step for both channels).
"""

from __future__ import annotations

import torch
from pydantic import Field

from ladd_core.components.latent_protocols import SequentialSampling, as_protocol
from ladd_core.components.samplers import SampleOutput, Sampler, SamplerConfig
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_samplers._chains import LatentMode, StepFactory, latent_mode_requires, resolve_latent_mode
from ladd_samplers.ancestral import token_chain
from ladd_samplers.joint import joint_chain
from ladd_samplers.sequential import latent_first

__all__ = ["ModeSampler", "ModeSamplerConfig", "run_in_latent_mode"]


class ModeSamplerConfig(SamplerConfig):
    """Fields of a token-chain sampler that runs with or without a latent."""

    latent_mode: LatentMode = Field(
        "auto",
        description="none (token-only model), sequential (latent generated first, as the sequential sampler), "
        "joint (latent denoised with the tokens, as the joint sampler); auto = none without a latent, else "
        "sequential where offered, else joint",
    )
    latent_steps: int = Field(8, ge=0, description="M: latent chain steps (sequential) or latent grid steps (joint)")
    cache: bool = Field(True, description="skip calls when nothing changed and the model is time-independent")


class ModeSampler(Sampler):
    """A token-chain sampler that runs in a latent mode: its needs and its latent read time follow the mode."""

    config: ModeSamplerConfig

    @classmethod
    def requires_for(cls, config: SamplerConfig) -> frozenset[str]:
        return latent_mode_requires(getattr(config, "latent_mode", "auto"))

    def latent_read_time(self, capabilities: frozenset[str]) -> float | None:
        """Sequential mode: the clean latent (0); joint mode: its prior (1, the first call); none: ``None``."""
        mode = resolve_latent_mode(self.config.latent_mode, capabilities, type(self).__name__)
        return {"sequential": 0.0, "joint": 1.0}.get(mode)  # "none": no latent is read


def run_in_latent_mode(
    name: str,
    model: LaddModel,
    cfg: ModeSamplerConfig,
    x: torch.Tensor,
    cond: Condition | None,
    generator: torch.Generator,
    step: StepFactory,
) -> SampleOutput:
    """Sample from the start state ``x (B, L)`` with the token ``step`` in the latent mode ``cfg`` resolves to."""
    mode = resolve_latent_mode(cfg.latent_mode, model.capabilities, name)
    info: dict[str, object] = {"steps": cfg.steps, "latent_mode": mode}
    if mode == "none":
        x, nfe, saved = token_chain(model, x, cfg, generator, latents=None, t_y=None, condition=cond, step=step)
        return SampleOutput(tokens=x, nfe=nfe, info={**info, "calls_saved": saved})
    if mode == "joint":
        x, y, nfe = joint_chain(model, x, cfg, cfg.latent_steps, generator, condition=cond, step=step)
        return SampleOutput(tokens=x, nfe=nfe, latents=y, info={**info, "latent_steps": cfg.latent_steps,
                                                                "calls_saved": 0})  # fmt: skip
    y, latent_nfe = latent_first(model, x, cfg.latent_steps, cfg.t_final, generator, condition=cond)
    latents, t_y = as_protocol(model.latent, SequentialSampling).token_condition(y)
    x, token_nfe, saved = token_chain(model, x, cfg, generator, latents=latents, t_y=t_y, condition=cond, step=step)
    info.update(latent_steps=cfg.latent_steps, latent_nfe=latent_nfe, token_nfe=token_nfe, calls_saved=saved)
    return SampleOutput(tokens=x, nfe=latent_nfe + token_nfe, latents=y, info=info)
