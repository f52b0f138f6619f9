"""The ``joint`` sampler: tokens and latents denoised together, one network call per step."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from ladd_core.components.latent_protocols import JointSampling, as_protocol, grid_latent_step
from ladd_core.components.samplers import SampleOutput, Sampler, SamplerConfig
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_core.numerics import check_finite
from ladd_core.posterior import TokenPosterior
from ladd_samplers._chains import StepFactory, ancestral_step, grid_rows, time_grid

__all__ = ["JointSampler", "joint_chain"]


class JointSampler(Sampler):
    """Joint schedule for any latent channel declaring ``"joint"`` (so implementing ``JointSampling``).

    Tokens follow a uniform grid of N steps, the latent its own grid of M steps
    (default M = N).  With ``latent_lead = P`` (``P <= M``) the first P calls step the latent
    alone, the tokens still fully masked at ``t_x = 1``: the latent is resolved *before* any
    token is revealed (a joint network trained with independent clocks has seen these times).
    Token step ``i`` then calls ``backbone(x, latent_input(y), t_i, t_y)`` once with
    ``t_y = ts_y[min(P + i, M)]``; both channels step (the latent only while ``P + i < M``:
    it finishes early and stays put, or with ``P + N < M`` the remaining latent noise is
    removed by the final call).  A last call at ``t_final`` fills every remaining mask and
    finalises the latent: NFE = P + N + 1.  Token draws are float64; temperature and top-p act
    on the token channel only.

    At N = 1 without a lead the only revealing call reads the latent at ``t_y = 1``, its prior:
    with tied clocks the latent then carries nothing about ``x_0`` and the sample is MDLM's
    (:meth:`latent_read_time`).

    With a condition the token chain starts from the partially masked sequence; since the
    network reads ``x`` at every call, the latent is denoised given the visible tokens.
    """

    class Config(SamplerConfig):
        name: Literal["joint"] = "joint"
        latent_steps: int | None = Field(None, ge=0, description="M, latent steps (default: the token steps N)")
        latent_lead: int = Field(
            0, ge=0, description="P, latent-only steps before the first token step (tokens all masked); P <= M"
        )

        @model_validator(mode="after")
        def _lead_within_grid(self) -> JointSampler.Config:
            m = self.steps if self.latent_steps is None else self.latent_steps
            if self.latent_lead > m:
                raise ValueError(f"latent_lead ({self.latent_lead}) must be at most latent_steps M ({m})")
            return self

    requires = frozenset({"joint"})
    config: Config

    def _latent_steps(self) -> int:
        return self.config.steps if self.config.latent_steps is None else self.config.latent_steps

    def latent_read_time(self, capabilities: frozenset[str]) -> float | None:
        """``ts_y[P]``: the latent grid's time after the lead (1 without a lead, ``t_final`` with ``P = M``)."""
        m, p = self._latent_steps(), self.config.latent_lead
        if m == 0:
            return 1.0
        return float(time_grid(m, self.config.t_final, torch.device("cpu"))[p])

    def _run(
        self, model: LaddModel, x: torch.Tensor, cond: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        cfg = self.config
        n, m, p = cfg.steps, self._latent_steps(), cfg.latent_lead
        x, y, nfe = joint_chain(model, x, cfg, m, generator, condition=cond, lead=p)
        return SampleOutput(
            tokens=x,
            nfe=nfe,
            latents=y,
            info={
                "steps": n,
                "latent_steps": m,
                "latent_lead": p,
                "token_nfe": nfe - p,
                "latent_nfe": nfe,
                "calls_saved": 0,
            },
        )


def joint_chain(
    model: LaddModel,
    x: torch.Tensor,
    cfg: SamplerConfig,
    latent_steps: int,
    generator: torch.Generator,
    *,
    condition: Condition | None = None,
    step: StepFactory | None = None,
    lead: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Denoise tokens ``x (B, L)`` (``cfg.steps`` steps) and a fresh latent (``latent_steps``) together.

    See :class:`JointSampler` for the grids and the ``lead`` (latent-only calls first, ``lead <=
    latent_steps``); ``step`` makes each token move (default: the process's ancestral step) and
    ``condition`` is re-imposed after each step and the final fill.  Returns the clean tokens, the
    clean latent and the network calls made (lead + N + 1).
    """
    if not 0 <= lead <= latent_steps:
        raise ValueError(f"lead must be in [0, latent_steps={latent_steps}], got {lead}")
    device, b = x.device, x.shape[0]
    proc, latent = model.process, as_protocol(model.latent, JointSampling)
    n, m = cfg.steps, latent_steps
    tx = grid_rows(time_grid(n, cfg.t_final, device), b, torch.float64)  # (N + 1, B)
    ty = grid_rows(time_grid(m, cfg.t_final, device), b, torch.float64)  # (M + 1, B)
    token_step = (step or ancestral_step(model, generator))(tx)
    latent_step = grid_latent_step(latent, ty)
    tx32, ty32 = tx.float().unbind(0), ty.float().unbind(0)  # rows (B,) the network reads, split once
    txr, tyr = tx.unbind(0), ty.unbind(0)
    y = latent.sample_prior(b, device, generator)
    nfe = 0

    def call(x: torch.Tensor, y: torch.Tensor, i: int, j: int) -> tuple[TokenPosterior, torch.Tensor]:
        """One network call at token time ``i`` and latent time ``j`` of the grids."""
        nonlocal nfe
        out = model.backbone(x, latent.network_input(y), tx32[i], ty32[j], None)
        nfe += 1
        if out.token_logits is None or out.latent_out is None:
            raise ValueError("the joint sampler needs a backbone returning token_logits and latent_out")
        lp = model.posterior(out.token_logits, x, cfg.temperature, cfg.top_p)
        return lp, check_finite(out.latent_out, "latent output")

    for j in range(lead):  # latent-only: the tokens stay as they start, read at t_x = 1 (tx[0])
        _, latent_out = call(x, y, 0, j)
        y = latent_step(y, latent_out, j, generator)
    for i in range(n):
        j = lead + i
        log_p, latent_out = call(x, y, i, min(j, m))
        if j < m:
            y = latent_step(y, latent_out, j, generator)
        x = token_step(x, log_p, i, txr[i], txr[i + 1])
        if condition is not None:
            x = condition.apply(x)
    log_p, latent_out = call(x, y, n, min(lead + n, m))  # tx[n] is t_final
    y = latent.latent_finalize(y, latent_out, tyr[min(lead + n, m)], generator)
    x = proc.finalize(x, log_p, generator)
    if condition is not None:
        x = condition.apply(x)
    return x, y, nfe
