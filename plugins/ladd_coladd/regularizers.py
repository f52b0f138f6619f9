"""Anti-collapse regularisers of a trainable encoder's latent and its spread statistic (Co-LADD; docs/coladd.md).

Both act on the encoder output over a batch and only while the encoder trains:

* :func:`variance_floor` -- VICReg-style: a hinge pushing every dimension's standard deviation over the
  batch up to ``target``, plus a penalty on the off-diagonal covariance, so the encoder cannot map every
  sequence to the same latent (collapse) or to one direction.
* :func:`info_nce` -- two independently corrupted views of the same sequences must map to matching
  latents and away from the other sequences' latents (contrastive, temperature ``tau``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["encoder_regularizer", "info_nce", "latent_spread", "variance_floor"]


def variance_floor(y: Tensor, target: float, eps: float = 1e-4) -> Tensor:
    """``mean_d relu(target - std_b[y_d]) + sum_{i != j} cov_ij^2 / d`` of latents ``y (B, K, d)``, a scalar.

    Slots are treated as separate samples of the same ``d``-dimensional variable.
    """
    flat = y.reshape(-1, y.shape[-1])  # (B*K, d)
    centred = flat - flat.mean(0, keepdim=True)
    std = (centred.pow(2).mean(0) + eps).sqrt()  # (d,)
    hinge = F.relu(target - std).mean()
    n, d = centred.shape
    cov = centred.T @ centred / max(n - 1, 1)  # (d, d)
    off = cov - torch.diag(torch.diagonal(cov))
    return hinge + off.pow(2).sum() / d


def info_nce(a: Tensor, b: Tensor, tau: float) -> Tensor:
    """Symmetric InfoNCE between two views ``a, b (B, K, d)`` of the same sequences, a scalar (nats).

    Each sequence's latent (slots flattened, L2-normalised) must pick its own other view among the
    ``B`` candidates.
    """
    za = F.normalize(a.flatten(1), dim=-1)  # (B, K*d)
    zb = F.normalize(b.flatten(1), dim=-1)
    logits = za @ zb.T / tau  # (B, B)
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def latent_spread(y: Tensor) -> float:
    """Spread of latents ``y (B, K, d)`` over the batch relative to their size, averaged over slots.

    ``sqrt(sum_d Var_b[y_bkd]) / sqrt(E_b ||y_bk||^2)``: 0 when every sequence gets the same latent,
    up to 1 for latents centred at 0 (about 1 for unit vectors spread over the sphere).
    """
    y = y.detach().double()
    spread = y.var(dim=0, unbiased=False).sum(-1).sqrt()  # (K,)
    size = y.pow(2).sum(-1).mean(0).sqrt().clamp_min(1e-12)  # (K,)
    return float((spread / size).mean())


def encoder_regularizer(
    encoder: nn.Module, config: Any, x0: Tensor, attention_mask: Tensor, mu: Tensor, generator: torch.Generator | None
) -> Tensor:
    """The configured anti-collapse terms of the encoder latent ``mu (B, K, d)`` of ``x0 (B, L)``, a scalar.

    ``config`` has ``variance_floor``, ``variance_target``, ``infonce_weight`` and ``infonce_temperature``
    (the ``gaussian`` channel's fields); InfoNCE encodes two views, each hiding a ``U[0, 0.5]`` share of the tokens.
    """
    c = config
    reg = torch.zeros((), device=mu.device)
    if c.variance_floor > 0:
        target = c.variance_target or mu.shape[-1] ** -0.5
        reg = reg + c.variance_floor * variance_floor(mu, target)
    if c.infonce_weight > 0:
        b = x0.shape[0]
        views = []
        for _ in range(2):
            share = torch.rand(b, generator=generator, device=x0.device) * 0.5  # (B,)
            hide = torch.rand(x0.shape, generator=generator, device=x0.device) < share[:, None]  # (B, L)
            views.append(encoder(x0, attention_mask, hide).float())  # (B, K, d)
        reg = reg + c.infonce_weight * info_nce(views[0], views[1], c.infonce_temperature)
    return reg
