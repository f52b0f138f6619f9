"""Latent health: is the latent channel carrying information, and is the token network using it?

A latent model can train without error and still be MDLM in disguise: the encoder *collapses* (every
sequence gets the same latent) or the token network learns to ignore the latent.  Both leave the token
loss where MDLM's is, so nothing in the loss curve shows it.  :func:`latent_health` measures it on one
batch:

* ``latent_gain_bpt`` -- the token loss with the latent withheld minus the token loss with it, in bits
  per masked token, on the same ``x_t`` and times drawn as in training.  0 = the latent is not used.
* ``latent_gain_full_bpt`` -- the same with *every* token masked (``t_x = 1``): the few-step regime,
  where the latent is the only source of cross-token structure (N = 1 samples everything from here),
  with the latent at the time the configured sampler reads it there
  (:meth:`~ladd_core.components.samplers.Sampler.latent_read_time`).  A joint sampler's first call
  reads the latent's prior: with tied clocks its gain is 0 *by construction*, whatever the latent holds.
* ``latent_gain_clean_bpt`` -- every token masked, the clean latent: what the latent is worth to the
  token network when a sampler delivers it (the sequential schedule does).
* the channel's own statistics of the encoder's latent (e.g. ``latent_spread`` for Gaussian latents,
  ``latent_code_perplexity`` for codes).

:func:`assess` turns these numbers into problems with a fixed, documented rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ladd_core.components.data import Batch
from ladd_core.components.latents import LatentBatch
from ladd_core.model import LaddModel

__all__ = ["GRID_T_X", "GRID_T_Y", "HealthThresholds", "assess", "grid_key", "latent_health"]


def _masked_ce_bits(model: LaddModel, logits: Tensor, x0: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
    """(summed -log p(x0) in bits over noised positions, number of noised positions), float64 scalars."""
    log_p = model.process.log_probs(logits, x_t)  # (B, L, C) float32
    noised = model.process.is_noised(x_t)  # (B, L) bool
    nll = -log_p.gather(-1, x0.unsqueeze(-1)).squeeze(-1)  # (B, L)
    nll = nll.masked_fill(~noised, 0.0)
    return nll.double().sum() / math.log(2), noised.sum().double()


def _gains(
    model: LaddModel,
    x0: Tensor,
    x_t: Tensor,
    t_x: Tensor,
    attn: Tensor,
    gen: torch.Generator | None,
    t_ys: Sequence[float | None],
) -> tuple[list[float], dict[str, float]] | None:
    """Gains in bits per noised token for one ``x_t``, one per latent time of ``t_ys``, and the channel stats.

    ``None`` in ``t_ys`` is the latent as the channel's training feeds it; a number ``t`` is the encoder's
    latent noised to ``t_y = t`` (0 = clean).  The null latent's loss is computed once.  ``None`` without a
    latent (or with no noised token).
    """
    noised = model.process.is_noised(x_t)
    if not bool(noised.any()):
        return None
    null_total: Tensor | None = None
    informed: list[Tensor] = []
    stats: dict[str, float] = {}
    for t_y in t_ys:
        ty = None if t_y is None else torch.full_like(t_x, float(t_y))
        probe = model.latent.probe(model.nets, LatentBatch(x0, x_t, t_x, attn, gen), ty)
        if probe is None:
            return None
        stats = probe.stats
        if null_total is None:
            null_total, n = _ce_bits(model, x0, x_t, probe.null, t_x, probe.null_t, attn)
        informed.append(_ce_bits(model, x0, x_t, probe.informed, t_x, probe.informed_t, attn)[0])
    assert null_total is not None
    return [float((null_total - inf) / n) for inf in informed], stats


def _ce_bits(
    model: LaddModel, x0: Tensor, x_t: Tensor, lat: Tensor, t_x: Tensor, t_y: Tensor, attn: Tensor
) -> tuple[Tensor, Tensor]:
    out = model.backbone(x_t, lat, t_x, t_y, attn)
    if out.token_logits is None:
        raise ValueError("the backbone returned no token_logits")
    return _masked_ce_bits(model, out.token_logits, x0, x_t)


GRID_T_X = (1.0, 0.5)
GRID_T_Y = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The ``(t_x, t_y)`` grid of :func:`latent_health` with ``grid=True``."""


def grid_key(t_x: float, t_y: float) -> str:
    """The health key of the gain at ``(t_x, t_y)``: ``latent_gain_tx{t_x}_ty{t_y}_bpt``."""
    return f"latent_gain_tx{t_x:g}_ty{t_y:g}_bpt"


@torch.no_grad()
def latent_health(
    model: LaddModel,
    batch: Batch,
    generator: torch.Generator | None = None,
    *,
    read_t_y: float | None = None,
    grid: bool = False,
) -> dict[str, float]:
    """Health numbers of ``model``'s latent on ``batch`` (empty for a model without a latent).

    Keys (gains in bits per noised token: the token loss with the null latent minus with the informed one):

    * ``latent_gain_bpt``: at training times, the latent as training feeds it;
    * ``latent_gain_full_bpt``: every token masked (``t_x = 1``, the N = 1 regime), the latent read at
      ``read_t_y`` -- the configured sampler's operating point
      (:meth:`~ladd_core.components.samplers.Sampler.latent_read_time`); without one, as training feeds it;
    * ``latent_gain_clean_bpt``: every token masked, the *clean* latent (``t_y = 0``): what the latent
      carries that the token network reads, whether or not a sampler can reach it;
    * ``latent_read_t_y``: the ``read_t_y`` used (only when given);
    * with ``grid``: :func:`grid_key` for every ``(t_x, t_y)`` of :data:`GRID_T_X` x :data:`GRID_T_Y`;
    * the channel's own statistics of the encoder's latent.

    Runs in eval mode (no dropout, no encoder corruption) with the weights as they are, and restores
    the previous mode.  Costs 2 network calls at training times, 3 (or 2 when ``read_t_y`` is 0) at
    all-mask, and 6 per ``t_x`` of the grid.
    """
    was_training = model.training
    model.eval()
    try:
        x0, attn = batch.tokens, batch.attention_mask
        b, length = x0.shape
        t = model.objective.sample_times(b, x0.device, generator)  # (B,)
        x_t = model.process.forward_sample(x0, t, attn, generator).x_t
        first = _gains(model, x0, x_t, t, attn, generator, [None])
        if first is None:
            return {}
        (gain,), stats = first
        full = model.process.prior(b, length, x0.device)  # (B, L) every token noised
        full = torch.where(attn.bool(), full, x0)  # padding stays as it is
        ones = torch.ones(b, device=x0.device)
        out = {"latent_gain_bpt": gain, **stats}
        reads: list[float | None] = [0.0] if read_t_y == 0.0 else [0.0, read_t_y]
        second = _gains(model, x0, full, ones, attn, generator, reads)
        if second is not None:
            out["latent_gain_clean_bpt"] = second[0][0]
            out["latent_gain_full_bpt"] = second[0][-1]
        if read_t_y is not None:
            out["latent_read_t_y"] = float(read_t_y)
        if grid:
            for t_x in GRID_T_X:
                if t_x == 1.0:
                    x_g, tx_g = full, ones
                else:
                    tx_g = torch.full((b,), t_x, device=x0.device)
                    x_g = model.process.forward_sample(x0, tx_g, attn, generator).x_t
                cell = _gains(model, x0, x_g, tx_g, attn, generator, list(GRID_T_Y))
                if cell is not None:
                    out.update({grid_key(t_x, t_y): g for t_y, g in zip(GRID_T_Y, cell[0])})
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
            the token network less than this many bits per token with every token masked, at the time the
            configured sampler reads the latent.
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
        clean = health.get("latent_gain_clean_bpt")
        read = health.get("latent_read_t_y")
        where = f" as the configured sampler reads it (t_y = {read:g})" if read is not None else ""
        msg = (
            f"the latent is useless{where}: withholding it changes the all-mask token loss by {gain:.4f} "
            f"bits/token (< {th.min_gain_bpt}); the model samples like MDLM at few steps"
        )
        if clean is not None and clean >= th.min_gain_bpt and read is not None and read > 0:
            msg += (
                f". The clean latent is worth {clean:.4f} bits/token: a schedule that resolves the latent before "
                "the tokens (the sequential sampler, or joint with latent_lead) would read it"
            )
        problems.append(msg)
    return problems
