"""A readable plain-text table of aggregated results."""

from __future__ import annotations

import math
from collections.abc import Callable

from ladd_core.components.metrics import MetricValue
from ladd_core.evaluation.aggregate import losses_of_latent_models
from ladd_core.evaluation.schema import ResultRow, ResultSet

__all__ = ["format_table", "format_value"]


def format_value(v: MetricValue | None) -> str:
    """``"0.7652 ± 0.0026"`` (4 significant digits), ``"nan"``, or ``"-"`` when absent."""
    if v is None:
        return "-"
    if not math.isfinite(v.value):
        return "nan"
    return f"{v.value:.4g}" + (f" ± {v.stderr:.2g}" if v.stderr is not None else "")


def _grid(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return out


def _model_table(rows: list[ResultRow]) -> list[str]:
    names = sorted({n for r in rows for n in r.metrics})
    header = ["model", "hash", "seeds"] + [_title(rows, n) for n in names]
    body = [
        [r.model, r.config_hash[:8], str(len(r.seeds))] + [format_value(r.metrics.get(n)) for n in names] for r in rows
    ]
    return _grid(header, body)


def _title(rows: list[ResultRow], name: str) -> str:
    v = next(r.metrics[name] for r in rows if name in r.metrics)
    return f"{name} [{v.unit}] {'↑' if v.higher_is_better else '↓'}"


def _pivot(rows: list[ResultRow], title: str, cell: Callable[[ResultRow], str]) -> list[str]:
    """One block: a line per (model, sampler, M, temperature), a column per token-step count N."""
    steps = sorted({r.steps for r in rows if r.steps is not None})
    lines: dict[tuple[str, ...], dict[int, str]] = {}
    for r in rows:
        t = "-" if r.temperature is None else f"{r.temperature:g}"
        m = "-" if r.latent_steps is None else str(r.latent_steps)
        key = (r.model, r.config_hash[:8], r.sampler or "-", m, t, f"{r.num_samples}x{len(r.seeds)}")
        lines.setdefault(key, {})[r.steps or 0] = cell(r)
    header = ["model", "hash", "sampler", "M", "T", "n"] + [f"N={n}" for n in steps]
    body = [[*key, *(cells.get(n, "") for n in steps)] for key, cells in lines.items()]
    return [title, *_grid(header, body)]


def _ms_per_sample(r: ResultRow) -> str:
    return f"{1000 * r.wall_seconds / r.num_samples:.2f}" if r.num_samples else "–"


def format_table(results: ResultSet) -> str:
    """NFE and time, then one block per sample metric (rows: model x sampler x M x T; columns: N),
    then sample-free metrics, then every setting where latent models lose.

    ``n`` is samples per seed x seeds; ``±`` is the standard error; ↑/↓ the better direction.
    """
    rows = results.aggregates or results.rows
    sample_rows = sorted(
        (r for r in rows if r.kind == "samples"),
        key=lambda r: (r.model, r.run, r.sampler or "", r.temperature or 0.0, r.steps or 0),
    )
    model_rows = [r for r in rows if r.kind == "model"]
    out: list[str] = []
    if sample_rows:
        out += _pivot(sample_rows, "NFE (network calls per batch)", lambda r: str(r.nfe))
        out += ["", *_pivot(sample_rows, "sampling wall ms per sample (mean over seeds)", _ms_per_sample)]
        for name in sorted({n for r in sample_rows for n in r.metrics}):
            have = [r for r in sample_rows if name in r.metrics]
            out += ["", *_pivot(have, _title(have, name), lambda r, n=name: format_value(r.metrics[n]))]
    if model_rows:
        out += ["", "sample-free metrics", *_model_table(model_rows)]
    losses = losses_of_latent_models(rows, results.not_compared)
    if losses:
        out += ["", *losses]
    if results.judge:
        out += ["", f"judge: {results.judge}"]
    if rows:
        out += [f"precision: {rows[0].precision}"]
    return "\n".join(out)
