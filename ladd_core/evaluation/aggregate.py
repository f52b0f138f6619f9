"""Merging per-seed rows, and the honest comparison: where latent models do not win."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import torch

from ladd_core.components.metrics import MetricValue
from ladd_core.evaluation.schema import ResultRow

__all__ = ["aggregate", "better", "combine", "losses_of_latent_models", "within_noise"]


def combine(values: list[MetricValue]) -> tuple[MetricValue, float | None]:
    """Mean over seeds with a conservative spread, and the standard deviation across seeds.

    The spread is the larger of the propagated per-seed errors ``sqrt(sum s_i^2) / k`` and the
    between-seed standard error ``sd / sqrt(k)`` (``k >= 2``); ``None`` when neither exists.
    """
    k = len(values)
    xs = torch.tensor([v.value for v in values], dtype=torch.float64)
    mean = float(xs.mean())
    cands: list[float] = []
    if all(v.stderr is not None for v in values):
        cands.append(math.sqrt(sum(v.stderr**2 for v in values if v.stderr is not None)) / k)
    sd = float(xs.std(unbiased=True)) if k >= 2 else None
    if sd is not None:
        cands.append(sd / math.sqrt(k))
    first = values[0]
    return MetricValue(mean, max(cands) if cands else None, first.unit, first.higher_is_better), sd


def aggregate(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """One row per setting (run, kind, sampler, N, M, temperature, top-p), merged over seeds.

    Only metrics present in every seed's row are merged (a metric missing for one seed is a
    notice in the results, never silently averaged over fewer seeds).
    """
    groups: dict[tuple[object, ...], list[ResultRow]] = {}
    for r in rows:
        groups.setdefault(r.setting, []).append(r)
    out = []
    for group in groups.values():
        names = [n for n in group[0].metrics if all(n in r.metrics for r in group)]
        metrics, spread = {}, {}
        for n in names:
            metrics[n], sd = combine([r.metrics[n] for r in group])
            if sd is not None:
                spread[n] = sd
        nfes = [r.nfe for r in group if r.nfe is not None]
        out.append(
            replace(
                group[0],
                seed=None,
                seeds=sorted(s for r in group for s in r.seeds),
                nfe=max(nfes) if nfes else None,
                wall_seconds=sum(r.wall_seconds for r in group) / len(group),
                metric_seconds=sum(r.metric_seconds for r in group) / len(group),
                metrics=metrics,
                seed_spread=spread,
            )
        )
    return out


def better(a: MetricValue, b: MetricValue) -> bool:
    """Whether ``a`` beats ``b`` in the metric's direction (ties are not better)."""
    return a.value > b.value if a.higher_is_better else a.value < b.value


def within_noise(a: MetricValue, b: MetricValue) -> bool:
    """Whether ``a`` and ``b`` differ by at most two combined standard errors (a tie, not a win or a loss)."""
    return abs(a.value - b.value) <= 2 * math.hypot(a.stderr or 0.0, b.stderr or 0.0)


def losses_of_latent_models(rows: list[ResultRow], not_compared: Iterable[str] = ()) -> list[str]:
    """Sentences naming every (N, M, temperature, metric) where no latent model is best.

    Rows are compared within a cell (kind, token steps N, temperature), whatever their sampler
    and latent steps M; only cells that hold both latent and token-only models count.
    A gap within two combined standard errors is called a tie rather than a loss.
    """
    skip = set(not_compared)
    cells: dict[tuple[object, ...], list[ResultRow]] = {}
    for r in rows:
        cells.setdefault((r.kind, r.steps, r.temperature), []).append(r)
    lines = []
    for (kind, steps, temp), group in cells.items():
        if not any(r.latent_model for r in group) or all(r.latent_model for r in group):
            continue
        names = sorted({n for r in group for n in r.metrics} - skip)
        for n in names:
            have = [r for r in group if n in r.metrics and math.isfinite(r.metrics[n].value)]
            lat = [r for r in have if r.latent_model]
            tok = [r for r in have if not r.latent_model]
            if not lat or not tok:
                continue
            best_lat, best_tok = lat[0], tok[0]
            for r in lat[1:]:
                best_lat = r if better(r.metrics[n], best_lat.metrics[n]) else best_lat
            for r in tok[1:]:
                best_tok = r if better(r.metrics[n], best_tok.metrics[n]) else best_tok
            a, b = best_lat.metrics[n], best_tok.metrics[n]
            if not better(b, a):
                continue
            verdict = "tie within 2 standard errors" if within_noise(a, b) else "LADD does not win"
            where = f"{kind}" + (f" N={steps} T={temp}" if steps is not None else "")
            lines.append(
                f"{verdict}: {n} at {where}: {best_tok.model}/{best_tok.sampler or '-'} {b.value:.4g} vs "
                f"best latent model {best_lat.model}/{best_lat.sampler or '-'} {a.value:.4g}"
            )
    return lines
