"""Figures: quality vs NFE (one curve per model and sampler) and the generative frontier.

Needs matplotlib (extra ``ladd[plot]`` or ``ladd[eval]``); it is imported only here, with the
non-interactive ``Agg`` backend.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from ladd_core.evaluation.schema import ResultRow, ResultSet

__all__ = ["FRONTIER_X", "FRONTIER_Y", "frontier_path", "plot_frontier", "plot_quality_vs_nfe", "plots_available"]

FRONTIER_X = "entropy"
FRONTIER_Y = ("gen-ppl", "true-nll")  # the first present is plotted against entropy


def plots_available() -> bool:
    """Whether matplotlib (the ``plot`` extra) can be imported; checked before work that ends in a plot."""
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'ladd[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(r: ResultRow, with_temp: bool) -> str:
    m = f" M={r.latent_steps}" if r.latent_steps is not None else ""
    t = f" T={r.temperature:g}" if with_temp and r.temperature is not None else ""
    return f"{r.model} [{r.config_hash[:6]}] / {r.sampler}{m}{t}"


def _constant(rows: list[ResultRow], name: str) -> bool:
    """A reference value (the same in every row, e.g. the data entropy) is not a curve."""
    return len({r.metrics[name].value for r in rows if name in r.metrics}) == 1 and len(rows) > 1


def frontier_path(path: Path) -> Path:
    """Where the frontier figure goes next to ``path`` (``x.png`` -> ``x-frontier.png``)."""
    return path.with_name(f"{path.stem}-frontier{path.suffix or '.png'}")


def plot_quality_vs_nfe(results: ResultSet, path: Path) -> Path | None:
    """One panel per sample metric, metric vs NFE (log2 axis), error bars = standard errors."""
    rows = [r for r in (results.aggregates or results.rows) if r.kind == "samples" and r.nfe]
    names = sorted(n for n in {n for r in rows for n in r.metrics} if not _constant(rows, n))
    if not names:
        return None
    plt = pyplot()
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False)
    with_temp = len({r.temperature for r in rows}) > 1
    for ax, name in zip(axes.flat, names):
        curves: dict[str, list[ResultRow]] = {}
        for r in rows:
            if name in r.metrics:
                curves.setdefault(_label(r, with_temp), []).append(r)
        for label, pts in sorted(curves.items()):
            pts.sort(key=lambda r: r.nfe or 0)
            ys = [r.metrics[name] for r in pts]
            err = [v.stderr or 0.0 for v in ys]
            ax.errorbar([r.nfe for r in pts], [v.value for v in ys], yerr=err, marker="o", capsize=2, label=label)
        v0 = rows[0].metrics.get(name) or next(r.metrics[name] for r in rows if name in r.metrics)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("NFE")
        ax.set_title(f"{name} [{v0.unit}] {'↑' if v0.higher_is_better else '↓'}", fontsize=9)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", fontsize=7, ncol=2)
    fig.tight_layout(rect=(0, min(0.3, 0.12 * math.ceil(len(labels) / 2) / nrows), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_frontier(results: ResultSet, path: Path) -> Path | None:
    """Quality (judge perplexity, else true NLL) vs entropy over the temperatures: one panel per token-step
    count N, one curve per model/sampler in each (so "which model is better at matched entropy" is read per N).

    Returns ``None`` (nothing written) when the results hold no entropy or no quality metric.
    """
    rows = [r for r in (results.aggregates or results.rows) if r.kind == "samples" and FRONTIER_X in r.metrics]
    y = next((n for n in FRONTIER_Y if any(n in r.metrics for r in rows)), None)
    if y is None:
        return None
    rows = [r for r in rows if y in r.metrics]
    steps = sorted({r.steps for r in rows}, key=lambda n: (n is None, n or 0))
    plt = pyplot()
    cols = min(4, len(steps))
    nrows = math.ceil(len(steps) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False)
    for ax, n in zip(axes.flat, steps):
        curves: dict[str, list[ResultRow]] = {}
        for r in rows:
            if r.steps == n:
                curves.setdefault(_label(r, False), []).append(r)
        for label, pts in sorted(curves.items()):
            pts.sort(key=lambda r: r.temperature or 0.0)
            xs = [r.metrics[FRONTIER_X].value for r in pts]
            ys = [r.metrics[y].value for r in pts]
            ax.plot(xs, ys, marker="o", label=label)
            for r, xv, yv in zip(pts, xs, ys):
                ax.annotate(f"{r.temperature:g}", (xv, yv), fontsize=5, xytext=(2, 2), textcoords="offset points")
        ax.set_title(f"N = {n} token steps", fontsize=9)
        ax.set_xlabel(f"{FRONTIER_X} [{rows[0].metrics[FRONTIER_X].unit}] (more diverse →)", fontsize=8)
        ax.set_ylabel(f"{y} [{rows[0].metrics[y].unit}] (lower = better)", fontsize=8)
    for ax in list(axes.flat)[len(steps) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle("generative frontier over the temperature sweep (labels: temperature)", fontsize=10)
    fig.legend(handles, labels, loc="lower center", fontsize=7, ncol=2)
    fig.tight_layout(rect=(0, min(0.3, 0.1 * math.ceil(len(labels) / 2) / nrows), 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
