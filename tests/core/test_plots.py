"""The frontier figure: judge perplexity vs entropy over temperatures, one panel per token-step count."""

from __future__ import annotations

import pytest

from ladd_core.components.metrics import MetricValue
from ladd_core.evaluation.plots import plot_frontier
from ladd_core.evaluation.schema import ResultRow, ResultSet

plt = pytest.importorskip("matplotlib.pyplot")


def _row(model: str, steps: int, temperature: float, quality: str = "gen-ppl") -> ResultRow:
    return ResultRow(
        run=f"runs/{model}", model=model, config_hash="abc123def456", run_step=10, latent="none",
        latent_model=False, kind="samples", seed=None, seeds=[0], sampler="ancestral", steps=steps, nfe=steps + 1,
        temperature=temperature, top_p=1.0, num_samples=8, wall_seconds=0.5, precision="float32",
        metrics={
            "entropy": MetricValue(3.0 + temperature, 0.01, "nats", True),
            quality: MetricValue(100.0 * temperature + steps, 1.0, "ppl", False),
        },
    )  # fmt: skip


def test_frontier_has_one_panel_per_n_and_one_curve_per_model_over_temperatures(tmp_path, monkeypatch):
    figures = []
    subplots = plt.subplots

    def spy(*args, **kwargs):
        fig, axes = subplots(*args, **kwargs)
        figures.append(axes)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    rows = [_row(m, n, t) for m in ("a-mdlm", "b-coladd") for n in (1, 4, 16) for t in (0.8, 0.9, 1.0)]
    path = plot_frontier(ResultSet(aggregates=rows), tmp_path / "f.png")
    assert path == tmp_path / "f.png" and path.read_bytes()[:4] == b"\x89PNG"
    panels = [ax for ax in figures[0].flat if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["N = 1 token steps", "N = 4 token steps", "N = 16 token steps"]
    for ax, n in zip(panels, (1, 4, 16)):
        lines = ax.get_lines()
        assert len(lines) == 2  # one curve per model in every panel
        for line in lines:
            assert list(line.get_xdata()) == [3.8, 3.9, 4.0]  # entropy, sorted by temperature
            assert list(line.get_ydata()) == [80.0 + n, 90.0 + n, 100.0 + n]  # this panel's N only


def test_frontier_falls_back_to_true_nll_and_needs_a_quality_metric(tmp_path):
    rows = [_row("a", 1, t, quality="true-nll") for t in (0.9, 1.0)]
    assert plot_frontier(ResultSet(aggregates=rows), tmp_path / "t.png") is not None
    rows = [_row("a", 1, t, quality="swd") for t in (0.9, 1.0)]
    assert plot_frontier(ResultSet(aggregates=rows), tmp_path / "n.png") is None
    assert not (tmp_path / "n.png").exists()
