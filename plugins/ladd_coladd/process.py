"""The Gaussian VP process of the ``gaussian`` channel (Co-LADD): its training and sampling pieces.

Training pieces for the core schedule (:mod:`ladd_core.components.latent_schedule`): ``y_0 = mu (+ sigma z)``
from the encoder, ``y_t = abar(t) y_0 + sigma_bar(t) eps``, the ``x0``/``eps`` prediction and its loss
(:mod:`ladd_coladd.loss`).  Sampling pieces: Gaussian prior, DDIM or ancestral steps in float64, and the
noise removal at the explicit time of the last prediction.  The module that holds them and its config are
:class:`ladd_coladd.channel.GaussianLatent`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ladd_coladd.loss import gaussian_latent_loss
from ladd_coladd.regularizers import encoder_regularizer
from ladd_coladd.vp import VP, ddim_step, posterior_coeffs, shift_time, shift_time_derivative, signal_noise, x0_from_eps
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
from ladd_core.components.latent_protocols import LatentGridStep
from ladd_core.components.latents import Networks
from ladd_core.numerics import check_finite

if TYPE_CHECKING:
    from ladd_coladd.channel import GaussianLatent

__all__ = ["GaussianProcess"]


class GaussianProcess(DiffusedLatent):
    """The process pieces of :class:`~ladd_coladd.channel.GaussianLatent` (which sets the attributes below)."""

    latent_network = "denoiser"
    config: GaussianLatent.Config
    encoder: Encoder
    vp: VP
    noise: nn.Module | None

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
        return TrainPlan(joint=False, latent=on, draw=on)  # no unused t_y / y_t (nothing draws after them)

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
            p_r = torch.rand(b, generator=generator, device=dev) * c.p_r_max  # (B,)
            if c.corruption == "per_sequence":  # one decision per sequence: all its masked positions, or none
                hit = (torch.rand(b, generator=generator, device=dev) < p_r)[:, None].expand_as(x0)  # (B, L)
            else:
                hit = torch.rand(x0.shape, generator=generator, device=dev) < p_r[:, None]  # (B, L)
            hide = (x_t != x0) & hit  # (B, L) positions the token denoiser must predict
        mu = self.encoder(x0, attention_mask, hide).float()  # (B, K, d)
        reg = torch.zeros((), device=mu.device)
        logs: dict[str, Tensor | float] = {}
        if self.training and self.encoder.trainable and encoder_phase(c.two_stage, stage):
            reg = encoder_regularizer(self.encoder, c, x0, attention_mask, mu, generator)
            if c.variance_floor > 0 or c.infonce_weight > 0:
                logs["encoder_reg"] = reg.detach()  # part of latent_loss, so stage 1 shows it apart
        y0 = mu
        if c.variance != "none":
            y0 = mu + self.sigma(mu) * torch.randn(mu.shape, generator=generator, device=dev)
        return CleanLatent(y0, y0, reg, logs)

    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        y0 = clean.value
        z = torch.randn(y0.shape, generator=generator, device=y0.device)
        y_t = self.vp.marginal(y0, t.to(y0.dtype), z)  # (B, K, d)
        return NoisedLatent(y_t, y_t, z)

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        return gaussian_latent_loss(self, step)

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

    def grid_latent_step(self, times: Tensor) -> LatentGridStep:
        """:meth:`latent_step` along the grid ``times (M + 1, B)``: the schedule and the VP coefficients are
        evaluated once for every step (the same formulas, :mod:`ladd_coladd.vp`)."""
        a2 = self.vp.abar2(times.to(torch.float64))  # (M + 1, B)
        a, sd = signal_noise(a2)

        def rows(v: Tensor) -> tuple[Tensor, ...]:
            return v.reshape(*v.shape, 1, 1).unbind(0)  # rows (B, 1, 1) against (B, K, d)

        a_t, s_t, a_s, s_s = rows(a[:-1]), rows(sd[:-1]), rows(a[1:]), rows(sd[1:])
        c_t, c_0, var = posterior_coeffs(a2[:-1], a2[1:])  # (M, B) each
        c_t, c_0, std = rows(c_t), rows(c_0), rows(var.sqrt())
        ddim, eps_pred = self.config.latent_step == "ddim", self.config.prediction != "x0"

        def step(state: Tensor, latent_out: Tensor, i: int, generator: torch.Generator | None) -> Tensor:
            out = check_finite(latent_out, "latent prediction").to(torch.float64)
            y0_hat = x0_from_eps(state, out, a_t[i], s_t[i]) if eps_pred else out
            if ddim:
                return ddim_step(state, y0_hat, a_t[i], s_t[i], a_s[i], s_s[i])
            z = torch.randn(state.shape, generator=generator, device=state.device, dtype=state.dtype)
            return c_t[i] * state + c_0[i] * y0_hat + std[i] * z

        return step

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
