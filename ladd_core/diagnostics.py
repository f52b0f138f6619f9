"""Latent health: is the latent channel carrying information, and is the token network using it?

A latent model can train without error and still be MDLM in disguise: the encoder *collapses* (every
sequence gets the same latent) or the token network learns to ignore the latent.  Both leave the token
loss where MDLM's is, so nothing in the loss curve shows it.  :func:`latent_health` measures it on one
batch:

* ``latent_gain_bpt`` -- the token loss with the latent withheld minus the token loss with it, in bits
  per masked token, on the same ``x_t`` and times drawn as in training.  0 = the latent is not used.
* ``latent_gain_full_bpt`` -- the same with *every* token masked (``t_x = 1``): the few-step regime,
  where the latent is the only source of cross-token structure (N = 1 samples everything from here).
* the channel's own statistics of the encoder's latent (e.g. ``latent_spread`` for Gaussian latents,
  ``latent_code_perplexity`` for codes).

:func:`assess` turns these numbers into problems with a fixed, documented rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ladd_core.components.data import Batch
from ladd_core.components.latents import LatentBatch
from ladd_core.model import LaddModel

__all__ = ["HealthThresholds", "assess", "latent_health"]


def _masked_ce_bits(model: LaddModel, logits: Tensor, x0: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
    """(summed -log p(x0) in bits over noised positions, number of noised positions), float64 scalars."""
    log_p = model.process.log_probs(logits, x_t)  # (B, L, C) float32
    noised = model.process.is_noised(x_t)  # (B, L) bool
    nll = -log_p.gather(-1, x0.unsqueeze(-1)).squeeze(-1)  # (B, L)
    nll = nll.masked_fill(~noised, 0.0)
    return nll.double().sum() / math.log(2), noised.sum().double()


def _gain(model: LaddModel, x0: Tensor, x_t: Tensor, t_x: Tensor, attn: Tensor, gen: torch.Generator | None):
    """(gain in bits per noised token, channel stats) for one ``x_t``; ``None`` without a latent."""
    probe = model.latent.probe(model.nets, LatentBatch(x0, x_t, t_x, attn, gen))
    if probe is None:
        return None
    totals = []
    for lat, t_y in ((probe.informed, probe.informed_t), (probe.null, probe.null_t)):
        out = model.backbone(x_t, lat, t_x, t_y, attn)
        if out.token_logits is None:
            raise ValueError("the backbone returned no token_logits")
        totals.append(_masked_ce_bits(model, out.token_logits, x0, x_t))
    (informed, n), (null, _) = totals
    if float(n) == 0:
        return None
    return float((null - informed) / n), probe.stats


@torch.no_grad()
def latent_health(model: LaddModel, batch: Batch, generator: torch.Generator | None = None) -> dict[str, float]:
    """Health numbers of ``model``'s latent on ``batch`` (empty for a model without a latent).

    Runs in eval mode (no dropout, no encoder corruption) with the weights as they are, and restores
    the previous mode.  Costs four network calls on the batch.
    """
    was_training = model.training
    model.eval()
    try:
        x0, attn = batch.tokens, batch.attention_mask
        b, length = x0.shape
        t = model.objective.sample_times(b, x0.device, generator)  # (B,)
        x_t = model.process.forward_sample(x0, t, attn, generator).x_t
        first = _gain(model, x0, x_t, t, attn, generator)
        if first is None:
            return {}
        gain, stats = first
        full = model.process.prior(b, length, x0.device)  # (B, L) every token noised
        full = torch.where(attn.bool(), full, x0)  # padding stays as it is
        ones = torch.ones(b, device=x0.device)
        second = _gain(model, x0, full, ones, attn, generator)
        out = {"latent_gain_bpt": gain, **stats}
        if second is not None:
            out["latent_gain_full_bpt"] = second[0]
        return out
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class HealthThresholds:
    """When a latent counts as collapsed or useless (see docs/coladd.md, "Latent health").

    Attributes:
        min_spread: ``latent_spread`` (spread of the encoder's latent over a batch relative to its size;
            about 1 for latents spread over the sphere, 0 when every sequence gets the same latent) below
            which the latent is *collapsed*.
        min_code_perplexity: ``latent_code_perplexity`` (codes in use over a batch) below which a code
            latent is collapsed.
        min_gain_bpt: ``latent_gain_full_bpt`` below which the latent is *useless*: withholding it costs
            the token network less than this many bits per token with every token masked.
    """

    min_spread: float = 0.02
    min_code_perplexity: float = 1.5
    min_gain_bpt: float = 0.002


def assess(health: dict[str, float], thresholds: HealthThresholds | None = None) -> list[str]:
    """Problems found in ``health`` (from :func:`latent_health`), as sentences; empty when healthy."""
    th = thresholds or HealthThresholds()
    problems = []
    spread = health.get("latent_spread")
    if spread is not None and spread < th.min_spread:
        problems.append(
            f"the latent has collapsed: latent_spread {spread:.4f} < {th.min_spread} "
            "(every sequence gets nearly the same latent)"
        )
    ppl = health.get("latent_code_perplexity")
    if ppl is not None and ppl < th.min_code_perplexity:
        problems.append(f"the codes have collapsed: code perplexity {ppl:.2f} < {th.min_code_perplexity} over a batch")
    gain = health.get("latent_gain_full_bpt")
    if gain is not None and gain < th.min_gain_bpt:
        problems.append(
            f"the latent is useless: withholding it changes the all-mask token loss by {gain:.4f} bits/token "
            f"(< {th.min_gain_bpt}); the model samples like MDLM at few steps"
        )
    return problems
