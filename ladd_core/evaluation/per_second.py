"""Quality per sampling second: does a latent model at few steps beat the token-only reference at equal time?

A model that needs fewer steps only pays if a step costs little more. For every sample metric the
caller names (a bench plan's ``quality``), this module lines each setting of a latent model up against
the best setting of the token-only reference (``latent_model`` false, e.g. MDLM) whose sampling wall
time per sample is **not larger**, and draws the metric against the wall time.

Times are the measured ``wall_seconds`` of each cell (mean over seeds), divided by its sample count:
they include the sampler's own work (categorical draws, masking), not only the network calls, and are
only comparable within one evaluation on one machine.
"""

from __future__ import annotations

from pathlib import Path

from ladd_core.components.metrics import MetricValue
from ladd_core.evaluation.aggregate import better, within_noise
from ladd_core.evaluation.schema import ResultRow, ResultSet
from ladd_core.evaluation.table import format_value

__all__ = ["equal_time_table", "ms_per_sample", "plot_quality_vs_time"]


def ms_per_sample(r: ResultRow) -> float:
    """Sampling wall milliseconds per sample of one cell (``inf`` without a sample count)."""
    return 1000.0 * r.wall_seconds / r.num_samples if r.num_samples else float("inf")


def _verdict(v: MetricValue, ref: MetricValue) -> str:
    """``yes`` / ``no``, or ``tie`` when the difference is within 2 combined standard errors."""
    if within_noise(v, ref):
        return "tie"
    return "yes" if better(v, ref) else "no"


def _label(r: ResultRow) -> str:
    m = f" M={r.latent_steps}" if r.latent_steps is not None else ""
    return f"{r.model} / {r.sampler}{m}"


def _cells(results: ResultSet, metric: str) -> list[ResultRow]:
    rows = results.aggregates or results.rows
    return [r for r in rows if r.kind == "samples" and metric in r.metrics and r.num_samples and r.prompt_len is None]


def equal_time_table(results: ResultSet, metric: str) -> list[str]:
    """A markdown table: every latent-model cell against the best reference cell at no more wall time.

    Returns no lines when the results hold no latent model or no reference cell with ``metric``.
    Columns: the latent setting, its time and value; the reference's best setting within that time
    (``-`` if even its cheapest setting is slower), its time and value; which is better (``tie``: within
    2 combined standard errors).
    """
    cells = _cells(results, metric)
    refs = sorted((r for r in cells if not r.latent_model), key=ms_per_sample)
    latent = sorted((r for r in cells if r.latent_model), key=lambda r: (_label(r), r.steps or 0))
    if not refs or not latent:
        return []
    unit = cells[0].metrics[metric].unit
    arrow = "↑" if cells[0].metrics[metric].higher_is_better else "↓"
    out = [
        f"| latent model / sampler | N | ms / sample | {metric} [{unit}] {arrow} "
        f"| best reference within that time | ms / sample | {metric} | latent better? |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in latent:
        t = ms_per_sample(r)
        affordable = [x for x in refs if ms_per_sample(x) <= t]
        v = r.metrics[metric]
        if not affordable:
            ref_cells = ["– (cheapest reference is slower)", f"{ms_per_sample(refs[0]):.2f}", "–", "– (no rival)"]
        else:
            best = affordable[0]
            for x in affordable[1:]:
                if better(x.metrics[metric], best.metrics[metric]):
                    best = x
            bv = best.metrics[metric]
            verdict = _verdict(v, bv)
            ref_cells = [
                f"{_label(best)} N={best.steps}",
                f"{ms_per_sample(best):.2f}",
                format_value(bv),
                verdict,
            ]
        out.append("| " + " | ".join([_label(r), str(r.steps), f"{t:.2f}", format_value(v), *ref_cells]) + " |")
    return out


def plot_quality_vs_time(results: ResultSet, metrics: list[str], path: Path) -> Path | None:
    """One panel per metric: value vs sampling ms per sample (log axis), a curve per model/sampler over N."""
    from ladd_core.evaluation.plots import pyplot

    have = [m for m in metrics if _cells(results, m)]
    if not have:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(have), figsize=(5.5 * len(have), 3.8), squeeze=False)
    for ax, metric in zip(axes.flat, have):
        curves: dict[str, list[ResultRow]] = {}
        for r in _cells(results, metric):
            curves.setdefault(_label(r), []).append(r)
        for label, pts in sorted(curves.items()):
            pts.sort(key=ms_per_sample)
            ys = [r.metrics[metric] for r in pts]
            style = "-" if pts[0].latent_model else "--"
            ax.errorbar(
                [ms_per_sample(r) for r in pts],
                [v.value for v in ys],
                yerr=[v.stderr or 0.0 for v in ys],
                marker="o",
                linestyle=style,
                capsize=2,
                label=label,
            )
            for r, v in zip(pts, ys):
                ax.annotate(
                    f"{r.steps}", (ms_per_sample(r), v.value), fontsize=6, xytext=(2, 2), textcoords="offset points"
                )
        v0 = ys[0]
        ax.set_xscale("log")
        ax.set_xlabel("sampling wall ms per sample (labels: N)")
        ax.set_title(f"{metric} [{v0.unit}] {'↑' if v0.higher_is_better else '↓'} vs sampling time", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", fontsize=7, ncol=2)
    fig.tight_layout(rect=(0, min(0.35, 0.08 * ((len(labels) + 1) // 2)), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
