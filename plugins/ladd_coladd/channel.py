"""The ``gaussian`` latent channel (Co-LADD): encoder latents diffused by a VP Gaussian process."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_coladd.loss import gaussian_latent_loss
from ladd_coladd.regularizers import encoder_regularizer, latent_spread
from ladd_coladd.vp import VP, shift_time, shift_time_derivative
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_process import (
    CleanLatent,
    DiffusedLatent,
    LatentLoss,
    LatentStep,
    LatentTimes,
    NoisedLatent,
    TrainPlan,
    encoder_phase,
    latent_phase,
)
from ladd_core.components.latents import LatentConfig, LatentProbe, Networks
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import check_finite

__all__ = ["GaussianLatent"]


class _EncoderNoise(nn.Module):
    """Learnable per-dimension encoder noise ``log sigma`` (``variance = "learnable"``)."""

    def __init__(self, dim: int, sigma: float) -> None:
        super().__init__()
        self.log_sigma = nn.Parameter(torch.full((dim,), math.log(sigma)))


class GaussianLatent(DiffusedLatent):
    """Co-LADD: ``y_0 = encoder(x_0) (+ sigma z)`` in ``R^{K x d}``, noised by ``y_t = abar y_0 + sigma_bar z``.

    Joint mode (no latent denoiser): one call ``backbone(x_t, y_t, t_x, t_y)`` predicts token logits and
    the latent (``y_0`` or ``eps``).  Sequential mode (``nets.latent_denoiser`` set): the token network reads
    the *clean* ``y_0`` with ``t_y = 0`` and the latent denoiser predicts from ``(y_t, t_y)`` alone.
    The calls are the core schedule's (:mod:`ladd_core.components.latent_schedule`).

    Training: latent dropout (``p_cfg``) zeroes ``y_0`` and ``y_t`` of a fraction of the examples and drops
    their latent loss; encoder-input corruption hides x_t-masked positions from the encoder with a per-sequence
    probability ``p_r ~ U[0, p_r_max]``.  Both are off in eval mode.

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
    latent_network = "denoiser"
    config: Config

    def __init__(self, config: Config, encoder: Encoder, schedule: Schedule) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.vp = VP(schedule)
        self.noise = _EncoderNoise(encoder.dim, config.sigma) if config.variance == "learnable" else None

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        caps = {"sequential"} if has_latent_denoiser else {"joint"}
        if getattr(config, "variance", "none") == "fixed":
            caps.add("joint_bound")
        return frozenset(caps)

    @property
    def num_slots(self) -> int:
        return self.encoder.num_slots

    @property
    def input_dim(self) -> int:
        return self.encoder.dim

    @property
    def output_dim(self) -> int:
        return self.encoder.dim

    def sigma(self, like: Tensor) -> Tensor:
        """Encoder noise std ``(d,)``."""
        if self.noise is not None:
            return self.noise.log_sigma.exp().to(like.dtype)
        return torch.full((like.shape[-1],), self.config.sigma, dtype=like.dtype, device=like.device)

    def to_x0(self, latent_out: Tensor, y_t: Tensor, t: Tensor) -> Tensor:
        """The network's latent output as a ``y_0`` prediction."""
        if self.config.prediction == "x0":
            return latent_out
        return self.vp.x0_from_eps(y_t, latent_out, t)

    def bound_valid(self, sequential: bool) -> bool:
        """Whether ``L_x + L_y`` is a bound here: fixed encoder noise, tied clocks or sequential, no corruption."""
        c, train = self.config, self.training
        return (
            c.variance == "fixed"
            and (sequential or c.clocks == "tied" or not train)
            and (not train or (c.p_cfg == 0 and c.p_r_max == 0))
        )

    # -- process pieces of the core training schedule -----------------------------------------
    @property
    def dropout(self) -> float:
        return self.config.p_cfg

    def plan(self, stage: int, nets: Networks) -> TrainPlan:
        if nets.latent_denoiser is None:
            return TrainPlan()
        on = latent_phase(self.config.two_stage, stage) or self.bound_valid(sequential=True)
        return TrainPlan(joint=False, latent=on, draw=True)  # t_y and y_t are drawn even when unused, as always

    def latent_times(self, t: Tensor, independent: bool) -> LatentTimes:
        """Independent times shifted by ``time_shift`` (``t' = a t / (1 + (a-1) t)``), with the density's Jacobian."""
        c = self.config
        if not independent or c.time_shift is None:
            return super().latent_times(t, independent)
        inv = (1.0 - c.t_min) * shift_time_derivative(t, c.time_shift)
        t_lo = float(shift_time(torch.tensor(c.t_min, dtype=torch.float64), c.time_shift))
        return LatentTimes(shift_time(t, c.time_shift), inv, t_lo)

    def encode_latent(
        self, x0: Tensor, x_t: Tensor, attention_mask: Tensor, stage: int, generator: torch.Generator | None
    ) -> CleanLatent:
        """``y_0 = mu (+ sigma z)``; the encoder does not see a ``p_r`` share of the positions masked in ``x_t``."""
        c = self.config
        b, dev = x0.shape[0], x0.device
        hide = None
        if self.training and c.p_r_max > 0:
            p_r = torch.rand(b, generator=generator, device=dev) * c.p_r_max
            hit = torch.rand(x0.shape, generator=generator, device=dev) < p_r[:, None]
            hide = (x_t != x0) & hit  # (B, L) positions the token denoiser must predict
        mu = self.encoder(x0, attention_mask, hide).float()  # (B, K, d)
        reg = torch.zeros((), device=mu.device)
        if self.training and self.encoder.trainable and encoder_phase(c.two_stage, stage):
            reg = encoder_regularizer(self.encoder, c, x0, attention_mask, mu, generator)
        y0 = mu
        if c.variance != "none":
            y0 = mu + self.sigma(mu) * torch.randn(mu.shape, generator=generator, device=dev)
        return CleanLatent(y0, y0, reg)

    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        y0 = clean.value
        z = torch.randn(y0.shape, generator=generator, device=y0.device)
        y_t = self.vp.marginal(y0, t.to(y0.dtype), z)  # (B, K, d)
        return NoisedLatent(y_t, y_t, z)

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        return gaussian_latent_loss(self, step)

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

    def probe(
        self,
        nets: Networks,
        x0: Tensor,
        t_x: Tensor,
        attention_mask: Tensor,
        generator: torch.Generator | None = None,
    ) -> LatentProbe:
        """Encoder latent vs the dropped (all-zero) latent that ``p_cfg`` trains, as the token network reads them."""
        mu = self.encoder(x0, attention_mask.bool()).float()  # (B, K, d)
        zeros = torch.zeros_like(mu)
        stats = {"latent_spread": latent_spread(mu)}
        if nets.latent_denoiser is not None:  # sequential: tokens read the clean latent at t_y = 0
            t0 = torch.zeros_like(t_x)
            return LatentProbe(mu, t0, zeros, t0, stats)
        z = torch.randn(mu.shape, generator=generator, device=mu.device)
        y_t = self.vp.marginal(mu, t_x.to(mu.dtype), z)  # (B, K, d) tied clocks: t_y = t_x
        return LatentProbe(y_t, t_x, zeros, t_x, stats)

    # -- sampling ---------------------------------------------------------------------
    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        shape = (batch_size, self.num_slots, self.encoder.dim)
        return torch.randn(shape, generator=generator, device=device, dtype=torch.float64)

    def network_input(self, state: Tensor) -> Tensor:
        return state.to(torch.float32)

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        t, s = t.to(torch.float64), s.to(torch.float64)
        y0_hat = self.to_x0(check_finite(latent_out, "latent prediction").to(torch.float64), state, t)
        if self.config.latent_step == "ddim":
            new = self.vp.ddim(state, y0_hat, t, s)
        else:
            new = self.vp.ancestral(state, y0_hat, t, s, generator)
        return new

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        out = check_finite(latent_out, "latent prediction").to(torch.float64)
        return self.to_x0(out, state, t.to(torch.float64))

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """With ``prompt_latent = "encoder"`` and a latent denoiser: the encoder's mean latent of the visible
        tokens, every other position hidden (``(B, K, d)`` float64, one call); otherwise ``None``.

        The latent denoiser is unconditional, so it cannot generate a latent given a prompt; the encoder can
        read a partial sequence because training hides the positions the token network must predict from it
        (``p_r_max``).  The latent is the encoder's point estimate, not a draw from ``p(y | prompt)``.
        """
        if self.config.prompt_latent != "encoder" or nets.latent_denoiser is None:
            return None
        x_in = tokens.masked_fill(~visible, 0)  # (B, L); hidden ids are never read, 0 is a valid id
        mu = self.encoder(x_in, torch.ones_like(visible), ~visible)  # (B, K, d)
        return mu.to(torch.float64)
