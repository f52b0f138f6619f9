"""Quality per sampling second: each latent-model cell against the best reference cell at no more wall time."""

from __future__ import annotations

import importlib.util

import pytest

from ladd_core.components.metrics import MetricValue
from ladd_core.evaluation.per_second import equal_time_table, ms_per_sample, plot_quality_vs_time
from ladd_core.evaluation.schema import ResultRow, ResultSet


def _row(model: str, latent: bool, steps: int, ms: float, ratio: float) -> ResultRow:
    return ResultRow(
        run=f"runs/{model}", model=model, config_hash="abcdef12", run_step=10, latent="x" if latent else "none",
        latent_model=latent, kind="samples", seed=None, seeds=[0], sampler="joint" if latent else "ancestral",
        steps=steps, nfe=steps, num_samples=100, wall_seconds=ms / 10.0,  # 100 samples: ms per sample = ms
        metrics={"true-nll-ratio": MetricValue(ratio, 0.01, "x entropy", False)},
    )  # fmt: skip


def _results() -> ResultSet:
    mdlm = [_row("mdlm", False, n, ms, v) for n, ms, v in [(1, 1.0, 1.6), (4, 4.0, 1.2), (16, 16.0, 1.05)]]
    ladd = [
        _row("ladd", True, 1, 2.0, 1.0),  # beats MDLM N=1 (the only one within 2 ms)
        _row("ladd", True, 4, 8.0, 1.3),  # loses to MDLM N=4 (1.2) within 8 ms
        _row("ladd", True, 2, 0.5, 1.9),  # faster than any MDLM setting: no rival
        _row("ladd", True, 8, 16.5, 1.06),  # within 2 standard errors of MDLM N=16 (1.05): a tie
    ]
    return ResultSet(rows=mdlm + ladd)


def test_each_latent_cell_meets_the_best_reference_it_can_afford():
    rows = _results().rows
    assert ms_per_sample(rows[0]) == pytest.approx(1.0)
    table = equal_time_table(_results(), "true-nll-ratio")
    body = {line.split(" | ")[1]: line for line in table[2:]}  # N -> row
    assert "mdlm / ancestral N=1" in body["1"] and body["1"].endswith("| yes |")
    assert "mdlm / ancestral N=4" in body["4"] and body["4"].endswith("| no |")
    assert "cheapest reference is slower" in body["2"] and "no rival" in body["2"]
    assert "mdlm / ancestral N=16" in body["8"] and body["8"].endswith("| tie |")


def test_no_table_without_a_reference_or_the_metric():
    only_latent = ResultSet(rows=[r for r in _results().rows if r.latent_model])
    assert equal_time_table(only_latent, "true-nll-ratio") == []
    assert equal_time_table(_results(), "swd") == []


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_plot_is_written(tmp_path):
    path = plot_quality_vs_time(_results(), ["true-nll-ratio", "swd"], tmp_path / "t.png")
    assert path is not None and path.stat().st_size > 1000
    assert plot_quality_vs_time(_results(), ["swd"], tmp_path / "u.png") is None
