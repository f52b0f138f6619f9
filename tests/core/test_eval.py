"""The evaluation engine: result schema, aggregation, honest comparison, metric matching, and `ladd eval` end to end."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Literal

import pytest
import torch

from ladd_core import hookimpl
from ladd_core.cli.main import main
from ladd_core.components.metrics import MetricValue
from ladd_core.components.samplers import Sampler, SamplerConfig
from ladd_core.evaluation.aggregate import aggregate, combine, losses_of_latent_models
from ladd_core.evaluation.engine import EvalSpec, evaluate, select_metrics
from ladd_core.evaluation.schema import ResultRow, ResultSet
from ladd_core.evaluation.table import format_table

TINY = [
    "--set", "model.backbone.hidden=16", "--set", "model.backbone.layers=1", "--set", "model.backbone.heads=2",
    "--set", "model.backbone.cond_dim=8", "--set", "data.seq_len=32", "--set", "data.train_size=256",
    "--set", "data.val_size=32", "--set", "train.batch_size=8", "--set", "train.eval_batches=1",
]  # fmt: skip
FAST = [
    "--metric-option", "swd.projections=50", "--metric-option", "swd.bootstrap=4",
    "--metric-option", "token-kl.bootstrap=4", "--metric-option", "nelbo.batches=1", "--metric-option", "nelbo.draws=2",
]  # fmt: skip


def _row(model: str, latent: bool, seed: int, value: float, stderr: float | None = 0.01, steps: int = 4) -> ResultRow:
    return ResultRow(
        run=f"runs/{model}", model=model, config_hash="abc123def456", run_step=10,
        latent="gaussian" if latent else "none", latent_model=latent, kind="samples", seed=seed, seeds=[seed],
        sampler="s", steps=steps, nfe=steps + 1,
        temperature=1.0, top_p=1.0, num_samples=8, wall_seconds=0.5, precision="weights float32, sampling float64",
        metrics={"swd": MetricValue(value, stderr, "ids", False), "entropy": MetricValue(0.6, None, "nats", True)},
    )  # fmt: skip


def test_schema_round_trips_through_json(tmp_path):
    rs = ResultSet(rows=[_row("mdlm", False, 0, 0.2)], notices=["x skipped"], metric_configs={"swd": {"name": "swd"}})
    rs.aggregates = aggregate(rs.rows)
    path = tmp_path / "r.json"
    rs.save(path)
    back = ResultSet.load(path)
    assert back == rs
    assert json.loads(path.read_text())["rows"][0]["metrics"]["swd"] == {
        "value": 0.2, "stderr": 0.01, "unit": "ids", "higher_is_better": False,
    }  # fmt: skip
    nan_row = _row("mdlm", False, 0, float("nan"))
    d = json.loads(json.dumps(nan_row.to_dict(), allow_nan=False))  # strict JSON: NaN -> null
    assert math.isnan(ResultRow.from_dict(d).metrics["swd"].value)
    with pytest.raises(ValueError, match="schema version"):
        ResultSet.from_dict({**rs.to_dict(), "schema_version": 99})


def test_combine_and_aggregate_over_seeds():
    v, sd = combine([MetricValue(1.0, 0.3, "u"), MetricValue(3.0, 0.4, "u")])
    assert v.value == 2.0 and sd == pytest.approx(math.sqrt(2))
    assert v.stderr == pytest.approx(max(0.5 / 2, math.sqrt(2) / math.sqrt(2)))
    agg = aggregate([_row("m", False, 0, 0.1), _row("m", False, 1, 0.3), _row("m", False, 0, 0.5, steps=8)])
    assert len(agg) == 2
    a = next(r for r in agg if r.steps == 4)
    assert a.seed is None and a.seeds == [0, 1] and a.metrics["swd"].value == pytest.approx(0.2)
    assert "swd" in a.seed_spread


def test_table_says_where_latent_models_do_not_win():
    rows = [_row("mdlm", False, 0, 0.10), _row("ladd", True, 0, 0.50), _row("mdlm", False, 0, 0.5, steps=8)]
    rows.append(_row("ladd", True, 0, 0.505, steps=8))
    lines = losses_of_latent_models(rows, not_compared=["entropy"])
    assert any(ln.startswith("LADD does not win: swd at samples N=4") for ln in lines)
    assert any(ln.startswith("tie within 2 standard errors: swd at samples N=8") for ln in lines)
    assert not any("entropy" in ln for ln in lines)
    table = format_table(ResultSet(rows=rows, not_compared=["entropy"]))
    assert "swd [ids] ↓" in table and "N=4" in table and "LADD does not win" in table
    assert "0.1 ± 0.01" in table


def test_select_metrics_matches_requirements_and_logs_the_rest(components):
    notes: list[str] = []
    got = select_metrics(components, None, frozenset({"known_generator", "model"}), notes.append, "run")
    assert {"true-nll", "phase-ks", "swd", "nelbo"} <= set(got) and "gen-ppl" not in got
    assert any("'gen-ppl' skipped" in n and "judge" in n for n in notes)
    assert select_metrics(components, ["gen-ppl"], frozenset({"text"}), notes.append, "run") == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", "4", *TINY]) == 0
    return run


def test_ladd_eval_end_to_end(tiny_run, tmp_path, capsys):
    out, fig = tmp_path / "res.json", tmp_path / "fig.png"
    zs = tmp_path / "zs.txt"
    zs.write_text("0110" * 20)
    args = ["eval", str(tiny_run), "--steps", "1,2", "--temperatures", "1.0", "--num-samples", "6"]
    args += ["--seeds", "0,1", "--out", str(out), "--zero-shot", str(zs), "--judge", "none", *FAST]
    args += ["--plot", str(fig)] if _has_matplotlib() else []
    assert main(args) == 0
    captured = capsys.readouterr()
    res = ResultSet.load(out)
    samples = [r for r in res.rows if r.kind == "samples"]
    assert len(samples) == 2 * 2 and all(r.num_samples == 6 for r in samples)
    assert {r.steps for r in samples} == {1, 2} and all(r.nfe is not None and r.nfe >= 1 for r in samples)
    for name in ("true-nll", "true-nll-ratio", "phase-ks", "swd", "token-kl", "entropy", "repetition"):
        assert all(name in r.metrics for r in samples), name
    model_rows = [r for r in res.rows if r.kind == "model"]
    assert len(model_rows) == 2 and {"nelbo", "nelbo-char", "zero-shot-nelbo"} <= set(model_rows[0].metrics)
    assert model_rows[0].metrics["zero-shot-tokens"].value == 80
    assert len(res.aggregates) == 2 + 1 and res.aggregates[0].seeds == [0, 1]
    assert any("gen-ppl" in n for n in res.notices) and "gen-ppl" in captured.err
    assert "true-nll [bits/token]" in captured.out and "nelbo [bits/token]" in captured.out
    if _has_matplotlib():
        assert fig.stat().st_size > 0 and (tmp_path / "fig-frontier.png").stat().st_size > 0


def test_ladd_eval_reports_bad_input_as_user_error(tiny_run, tmp_path, capsys):
    assert main(["eval", str(tiny_run), "--metrics", "swd,nope", "--out", str(tmp_path / "r.json")]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err
    assert main(["eval", str(tiny_run), "--steps", "1,x", "--out", str(tmp_path / "r.json")]) == 2


class _NeedsLatent(Sampler):
    class Config(SamplerConfig):
        name: Literal["needs-latent"] = "needs-latent"

    requires = frozenset({"a-latent-this-model-lacks"})

    def sample(self, model, num_samples, *, generator, length=None):  # pragma: no cover - never called
        raise AssertionError("an incompatible sampler must be skipped")


def test_incompatible_sampler_and_unusable_metric_are_skipped_with_notices(tiny_run, tmp_path):
    from ladd_core.evaluation.engine import Resource
    from ladd_core.plugins import load_plugins

    text = tmp_path / "prose.txt"
    text.write_text("not binary")

    plugin = SimpleNamespace(ladd_register_samplers=hookimpl(lambda register: register("needs-latent", _NeedsLatent)))
    comps = load_plugins([("test-needs-latent", plugin)])
    notes: list[str] = []
    spec = EvalSpec(steps=[1], samplers=["needs-latent", "ancestral"], num_samples=4,
                    metrics=["entropy", "swd", "zero-shot-nelbo"],
                    metric_overrides=["swd.projections=20", "swd.bootstrap=0"])  # fmt: skip
    res = evaluate([tiny_run], spec, comps, {"zero_shot": Resource(True, lambda: text)}, log=notes.append)
    assert [r.sampler for r in res.rows] == ["ancestral"]
    assert any("'needs-latent' skipped" in n for n in res.notices) and notes == res.notices
    assert any("'zero-shot-nelbo' skipped" in n and "cannot encode" in n for n in res.notices)
    assert res.rows[0].metrics["swd"].stderr is None and torch.isfinite(torch.tensor(res.rows[0].metrics["swd"].value))


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def test_skipped_metric_notice_names_capabilities_plainly(components):
    from ladd_core.capability import Capability

    logged: list[str] = []
    kept = select_metrics(components, ["true-nll"], frozenset({Capability.CODES, "text"}), logged.append, "run")
    assert kept == [] and len(logged) == 1
    assert "(available: ['codes', 'text'])" in logged[0] and "Capability" not in logged[0]


def test_eval_threads_follow_the_load_between_cells_and_are_given_back(tiny_run, components, monkeypatch):
    """A competing job during ``ladd eval`` lowers the sampler's threads between cells; the count comes back."""
    from ladd_core.evaluation import engine

    calls: list[str] = []

    class Governor:
        def __init__(self, requested, log, **kwargs):
            assert requested == "auto"

        def start(self):
            calls.append("start")

        def check(self, force=False):
            calls.append("check")
            return 1

        def restore(self):
            calls.append("restore")

    monkeypatch.setattr(engine, "ThreadGovernor", Governor)
    spec = EvalSpec(steps=[1, 2], temperatures=[0.9, 1.0], num_samples=4, seeds=[0], metrics=["entropy"])
    res = evaluate([tiny_run], spec, components, log=lambda m: None)
    cells = [r for r in res.rows if r.kind == "samples"]
    assert len(cells) == 4 and calls == ["start", *["check"] * 4, "restore"]
