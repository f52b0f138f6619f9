"""The ``gaussian`` channel's latent loss and bound terms (Co-LADD; docs/coladd.md).

``-log p(x_0) <= E_q[L_x + L_y] - H[q(y_0|x_0)]``; the latent part is the continuous-time diffusion term,
the prior KL at ``t = 1`` and a Gaussian decoding term at the lowest latent time combined with the encoder
entropy.  :func:`gaussian_latent_loss` turns a training step's prediction into the configured loss
(``mse`` on the prediction target, or the ``elbo`` terms per token) and, where valid, the bound term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ladd_core.components.latent_process import LatentLoss, LatentStep, latent_phase

if TYPE_CHECKING:
    from ladd_coladd.channel import GaussianLatent
    from ladd_coladd.vp import VP

__all__ = ["bound_terms", "gaussian_latent_loss"]


def bound_terms(
    vp: VP, y0: Tensor, y0_hat: Tensor, t_y: Tensor, inv_density: Tensor, t_lo: float, sigma: Tensor
) -> dict[str, Tensor]:
    """Per-example latent bound terms ``(B,)`` in nats: diffusion, prior and (decoding - encoder entropy).

    ``y0, y0_hat (B, K, d)``; ``t_y, inv_density (B,)`` the latent times and ``1 / density``; ``t_lo`` the
    lowest reachable latent time; ``sigma (d,)`` the encoder noise std.
    """
    sq = (y0_hat - y0).pow(2).flatten(1).sum(-1)  # (B,)
    diffusion = 0.5 * (-vp.snr_derivative(t_y)) * sq * inv_density
    one = torch.ones_like(t_y)
    a1, s1 = vp.coeffs(one)
    v1 = s1**2
    prior = 0.5 * ((a1**2)[:, None] * y0.flatten(1).pow(2) + (v1 - 1.0 - v1.log())[:, None]).sum(-1)
    lo = torch.full_like(t_y, t_lo)
    a_lo, s_lo = vp.coeffs(lo)
    dec_var = (s_lo / a_lo) ** 2  # (B,) variance of the decoder N(y_lo / abar_lo, .)
    log_sigma2 = 2.0 * sigma.log()  # (d,)
    k = y0.shape[1]
    decode = 0.5 * (k * (dec_var.log()[:, None] - log_sigma2[None, :])).sum(-1)  # E[-log p_dec] - H[q]
    return {"diffusion": diffusion, "prior": prior, "decode": decode}


def gaussian_latent_loss(channel: GaussianLatent, step: LatentStep) -> LatentLoss:
    """Latent loss ``(B,)`` (dropped examples excluded, reweighted to the batch), bound term and logs."""
    c = channel.config
    keep = step.keep
    b = keep.shape[0]
    latent_active = latent_phase(c.two_stage, step.stage)
    bound_valid = channel.bound_valid(sequential=not step.plan.joint)
    if step.latent_out is None:
        if latent_active:
            raise ValueError("the latent network returned no latent_out")
        return LatentLoss(torch.zeros(b, device=keep.device))
    assert step.noised is not None and step.times is not None
    y0, y_t, times = step.clean.value, step.noised.state, step.times
    latent_out = step.latent_out.float()
    y0_hat = channel.to_x0(latent_out, y_t, times.t)
    n_keep = keep.sum().clamp_min(1)
    logs: dict[str, Tensor | float] = {
        "latent_mse": ((y0_hat - y0).detach().pow(2).flatten(1).mean(-1) * keep).sum() / n_keep
    }
    terms = None
    if c.latent_loss == "elbo" or bound_valid:
        terms = bound_terms(channel.vp, y0, y0_hat, times.t, times.inv_density, times.t_lo, channel.sigma(y0))
    loss = torch.zeros(b, device=keep.device)
    if latent_active:
        if c.latent_loss == "mse":
            target = y0 if c.prediction == "x0" else step.noised.noise
            per = (latent_out - target).pow(2).flatten(1).mean(-1)  # (B,)
        else:
            assert terms is not None
            per = terms["diffusion"]
            if c.variance != "none":
                per = per + terms["prior"] + terms["decode"]
            per = per / step.attention_mask.sum(-1).clamp_min(1).to(per.dtype)  # nats per token
        loss = c.latent_weight * per * keep.to(per.dtype) * (b / n_keep)
    if not bound_valid:
        return LatentLoss(loss, None, logs)
    assert terms is not None
    nelbo = terms["diffusion"] + terms["prior"] + terms["decode"]
    logs["latent_nelbo"] = nelbo.detach().mean()  # tensors: reduced to floats only when logged
    logs.update({f"latent_{k}": v.detach().mean() for k, v in terms.items()})
    return LatentLoss(loss, nelbo, logs)
