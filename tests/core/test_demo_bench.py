"""The quick start and the benchmark driver, end to end in their smoke modes (slow: run with `nox -s slow`)."""

from __future__ import annotations

import pytest

from ladd_core.cli.main import main

pytestmark = pytest.mark.slow


def test_demo_quick(tmp_path, capsys):
    """``ladd demo --quick``: a smoke run of the quick start (30 steps per model; its numbers mean nothing)."""
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    ladd_preset = next(p for p in ("sawtooth-coladd", "sawtooth-diladd") if p in out)
    assert "sawtooth-mdlm" in out and "shakespeare-mdlm" in out
    header = next(line for line in out.splitlines() if "sawtooth-mdlm" in line)
    assert ladd_preset in header, "MDLM and LADD side by side in one table"
    assert "x entropy" in out and "NFE" in out and "s/sample" in out
    for n in (1, 4, 16, 64):
        assert f"\n{n:>3} " in out, f"no sawtooth row for N = {n}"
    figure = tmp_path / "demo" / "demo-sawtooth-quick-quality-vs-nfe.svg"
    assert figure.is_file() and f"figure: {figure}" in out
    assert "smoke run" in out


def test_bench_quick_default_datasets_is_a_smoke_test_that_trains_every_model(tmp_path, capsys):
    """``ladd bench --quick`` on its default datasets (every registered plan), as a user runs it.

    Budget design: <= 5 min on 2 idle cores for the default datasets together (the measurement, with the machine
    and its load: docs/results.md, "Speed"; the design: docs/benchmarks.md; no wall-clock assert here).  It gets
    there by fewer steps and fewer cells, not by dropping models: every installed preset of every plan is trained
    (at most 60 steps) and evaluated on one seed at N = 1 and 4 with its own sampler only, no temperature sweep,
    and the run says that its numbers are a smoke test.
    """
    from ladd_core.evaluation.bench import plans_for
    from ladd_core.plugins import get_components

    comps = get_components()
    plans = plans_for(None, comps)
    assert set(plans) == {"sawtooth", "shakespeare", "markov"}
    for plan in plans.values():
        quick = plan.quick
        assert quick.steps <= 60 and quick.seeds == (0,) and quick.grid == (1, 4)
        assert quick.samplers == () and quick.temperatures is None
    doc = tmp_path / "bench.md"
    assert main(["bench", "--quick", "--out", str(tmp_path / "b"), "--doc", str(doc), "--judge", "none"]) == 0
    captured = capsys.readouterr()
    text = doc.read_text()
    assert "<!-- bench-quick:begin -->" in text and "is a smoke test" in text and "is a smoke test" in captured.out
    installed = comps.registry("preset")
    for ds, plan in plans.items():
        assert f"### {ds}" in text
        for name in plan.presets:
            if name in installed and "minilm" not in name:  # the frozen-encoder preset needs an optional extra
                assert f"| {name} |" in text, f"{name} was not trained"
    assert "true-nll" in text


def test_speed_benchmark_smoke_every_section() -> None:
    """``benchmarks/speed.py --smoke``: one call of every section; it broke unseen when the data API grew."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    paths = [str(root), str(root / "plugins"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    cmd = [sys.executable, "benchmarks/speed.py", "--smoke", "--no-doc", "--threads", "1"]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    titles = [line for line in done.stdout.splitlines() if line.startswith("### ")]
    assert len(titles) == 6, titles  # overhead, ladd, mfu, sampling, contention, memory
    assert "unavailable" not in done.stdout, "a LADD row failed to build or step"


def test_encoder_ab_times_shipped_and_varied_presets() -> None:
    """``benchmarks/encoder_ab.py``: a preset variant is really built (the override reaches the trainer) and timed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    paths = [str(root), str(root / "plugins"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    cmd = [sys.executable, "benchmarks/encoder_ab.py", "--threads", "1", "--calls", "1", "--turns", "1",
           "--presets", "sawtooth-coladd", "--set", "model.latent.encoder.layers=1"]  # fmt: skip
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if "ms/step" in line]
    assert [r[0] for r in rows] == ["MDLM", "Co-LADD", "Co-LADD"], done.stdout
    shipped, variant = (int(r[-2].replace(",", "")) for r in rows[1:])
    assert variant < shipped  # three encoder layers fewer
    bad = [sys.executable, "benchmarks/encoder_ab.py", "--presets", "sawtooth-coladd", "--set", "model.latent.nope=1"]
    failed = subprocess.run(bad, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert failed.returncode != 0 and "model.latent.nope" in failed.stderr  # the variant is validated, not ignored
