"""The ``gaussian`` latent channel (Co-LADD): encoder latents diffused by a VP Gaussian process."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_coladd.process import GaussianProcess
from ladd_coladd.regularizers import latent_spread
from ladd_coladd.vp import VP
from ladd_core.capability import Capability
from ladd_core.components.encoders import Encoder
from ladd_core.components.latents import LatentBatch, LatentConfig, LatentProbe, Networks
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref

__all__ = ["GaussianLatent"]


class _EncoderNoise(nn.Module):
    """Learnable per-dimension encoder noise ``log sigma`` (``variance = "learnable"``)."""

    def __init__(self, dim: int, sigma: float) -> None:
        super().__init__()
        self.log_sigma = nn.Parameter(torch.full((dim,), math.log(sigma)))


class GaussianLatent(GaussianProcess):
    """Co-LADD: ``y_0 = encoder(x_0) (+ sigma z)`` in ``R^{K x d}``, noised by ``y_t = abar y_0 + sigma_bar z``.

    Joint mode (no latent denoiser): one call ``backbone(x_t, y_t, t_x, t_y)`` predicts token logits and
    the latent (``y_0`` or ``eps``).  Sequential mode (``nets.latent_denoiser`` set): the token network reads
    the *clean* ``y_0`` with ``t_y = 0`` and the latent denoiser predicts from ``(y_t, t_y)`` alone.
    The calls are the core schedule's (:mod:`ladd_core.components.latent_schedule`).

    Training: latent dropout (``p_cfg``) zeroes ``y_0`` and ``y_t`` of a fraction of the examples and drops
    their latent loss; encoder-input corruption hides x_t-masked positions from the encoder with a per-sequence
    probability ``p_r ~ U[0, p_r_max]`` (each position on its own, or all of them at once with
    ``corruption = "per_sequence"``, as the reference code does).  Both are off in eval mode.

    ``latent_nelbo`` is returned only with ``variance = "fixed"`` (see :mod:`ladd_coladd.loss`); with a
    deterministic encoder ``H = -inf`` and there is no bound.
    """

    class Config(LatentConfig):
        """Configuration of the ``gaussian`` (Co-LADD) latent channel."""

        name: Literal["gaussian"] = "gaussian"
        encoder: Annotated[ComponentConfig, Ref("encoder")] = ref(
            "encoder", "transformer", description="x_0 -> (K, d); K = encoder.num_slots, d = encoder.dim"
        )
        schedule: Annotated[ComponentConfig, Ref("schedule")] = ref(
            "schedule", "sqrt", description="latent VP schedule; its alpha(t) is abar(t)^2"
        )
        prediction: Literal["x0", "eps"] = Field("x0", description="what the latent head predicts")
        latent_step: Literal["ddim", "ancestral"] = Field(
            "ddim", description="reverse latent update at sampling: deterministic DDIM or a posterior draw"
        )
        variance: Literal["none", "fixed", "learnable"] = Field(
            "none", description="encoder noise y_0 = mu + sigma z: none (deterministic), fixed sigma, learnable"
        )
        sigma: float = Field(0.1, gt=0.0, description="encoder noise std ('fixed'), or its initial value")
        clocks: Literal["tied", "independent"] = Field(
            "tied", description="t_y = t_x, or an independent draw in [t_min, 1]"
        )
        time_shift: float | None = Field(
            None, gt=0.0, description="shift a of independent latent times: t' = a t / (1 + (a-1) t)"
        )
        t_min: float = Field(
            1e-4, gt=0.0, lt=1.0, description="lowest latent time; must equal objective.t_min for the bound"
        )
        latent_loss: Literal["mse", "elbo"] = Field(
            "mse", description="mse: mean squared error over K*d; elbo: the latent bound terms per token"
        )
        latent_weight: float = Field(1.0, ge=0.0, description="lambda, multiplies the latent loss")
        p_cfg: float = Field(0.15, ge=0.0, lt=1.0, description="latent dropout probability per example")
        p_r_max: float = Field(
            0.9, ge=0.0, le=1.0, description="encoder-input corruption: p_r ~ U[0, p_r_max] per sequence"
        )
        corruption: Literal["per_token", "per_sequence"] = Field(
            "per_token",
            description="per_token: each position masked in x_t is hidden from the encoder w.p. p_r; per_sequence "
            "(the reference code): w.p. p_r every masked position of the sequence is hidden, else none",
        )
        variance_floor: float = Field(
            0.0,
            ge=0.0,
            description="weight of the VICReg-style floor on the encoder latent's per-dimension std over the "
            "batch (+ decorrelation) while the encoder trains; 0 = off",
        )
        variance_target: float | None = Field(
            None, gt=0.0, description="the std the floor pushes each dimension to (None = 1/sqrt(d))"
        )
        infonce_weight: float = Field(
            0.0,
            ge=0.0,
            description="weight of an InfoNCE loss between the latents of two corrupted views of x_0 "
            "(each hides a U[0, 0.5] share of the tokens) while the encoder trains; 0 = off",
        )
        infonce_temperature: float = Field(0.1, gt=0.0, description="InfoNCE temperature")
        two_stage: bool = Field(
            False,
            description="stage 1 = encoder + token denoiser (latent loss off, latent denoiser frozen); "
            "stage 2 = encoder frozen. Needs two entries in train.stages. False: everything trains together",
        )
        prompt_latent: Literal["encoder", "denoiser"] = Field(
            "encoder",
            description="sequential sampling with a prompt/template: encoder = the latent is the encoder's "
            "latent of the visible tokens with the masked positions hidden (the corruption p_r_max > 0 trains "
            "the token network to read); denoiser = the unconditional latent-denoiser chain (ignores the prompt)",
        )

        @model_validator(mode="after")
        def _check(self) -> GaussianLatent.Config:
            if self.time_shift is not None and self.clocks == "tied":
                raise ValueError(
                    "time_shift with clocks='tied' would move t_y off the token time t_x that the sampler "
                    "uses for both; set clocks='independent' (or leave time_shift unset)"
                )
            return self

    backbone_requires = frozenset({"latent_stream"})
    config: Config

    def __init__(self, config: Config, encoder: Encoder, schedule: Schedule) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.vp = VP(schedule)
        self.noise = _EncoderNoise(encoder.dim, config.sigma) if config.variance == "learnable" else None

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        """Of the schedules implemented: sequential with a latent denoiser, else joint; joint_bound: fixed variance."""
        if not isinstance(config, cls.Config):
            raise TypeError(f"GaussianLatent.capabilities_for needs its own Config, got {type(config).__name__}")
        schedule = Capability.SEQUENTIAL if has_latent_denoiser else Capability.JOINT
        caps = super().capabilities_for(config, has_latent_denoiser=has_latent_denoiser) & {schedule}
        return caps | {Capability.JOINT_BOUND} if config.variance == "fixed" else caps

    @property
    def input_dim(self) -> int:
        return self.encoder.dim

    @property
    def output_dim(self) -> int:
        return self.encoder.dim

    def trainable_modules(self, stage: int, nets: Networks) -> list[nn.Module]:
        enc: list[nn.Module] = [self.encoder] if self.encoder.trainable else []
        if self.noise is not None:
            enc.append(self.noise)
        den: list[nn.Module] = [nets.latent_denoiser] if nets.latent_denoiser is not None else []
        if not self.config.two_stage:
            return [nets.backbone, *enc, *den]
        if stage <= 1:
            return [nets.backbone, *enc]
        return [nets.backbone, *den]

    def probe(self, nets: Networks, batch: LatentBatch, t_y: Tensor | None = None) -> LatentProbe:
        """Encoder latent (at ``t_y``, or as training feeds it) vs the dropped (all-zero) latent that ``p_cfg``
        trains, as the token network reads them."""
        t_x = batch.t_x
        mu = self.encoder(batch.x0, batch.attention_mask.bool()).float()  # (B, K, d)
        zeros = torch.zeros_like(mu)
        stats = {"latent_spread": latent_spread(mu)}
        sequential = nets.latent_denoiser is not None  # tokens read the clean latent at t_y = 0
        null_t = torch.zeros_like(t_x) if sequential else t_x
        if t_y is None:
            t_y = torch.zeros_like(t_x) if sequential else t_x  # joint: the channel's clocks in eval are tied
        z = torch.randn(mu.shape, generator=batch.generator, device=mu.device)
        y_t = self.vp.marginal(mu, t_y.to(mu.dtype), z)  # (B, K, d)
        y_t = torch.where((t_y == 0).reshape(-1, 1, 1), mu, y_t)  # (B, K, d): exactly y_0 at t_y = 0
        return LatentProbe(y_t, t_y, zeros, null_t, stats)
