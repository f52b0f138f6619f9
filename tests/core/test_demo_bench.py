"""The quick start and the benchmark driver, end to end in their smoke modes (slow: run with `nox -s slow`)."""

from __future__ import annotations

import pytest

from ladd_core.cli.main import main

pytestmark = pytest.mark.slow


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "sawtooth-mdlm" in out and "shakespeare-mdlm" in out
    assert "x entropy" in out, "the sawtooth rows are scored under the true process"
    for n in (1, 4, 16, 64):
        assert f" {n:>3} " in out


def test_bench_quick_sawtooth(tmp_path, capsys):
    doc = tmp_path / "bench.md"
    assert main(["bench", "--quick", "--datasets", "sawtooth", "--out", str(tmp_path / "b"), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "<!-- bench-quick:begin -->" in text and "sawtooth-mdlm" in text
    assert "× first" in text and "Presets for sawtooth: sawtooth-mdlm, sawtooth-coladd, sawtooth-diladd" in text


@pytest.mark.slow
def test_bench_quick_both_datasets_with_judge_flag(tmp_path, capsys):
    doc = tmp_path / "bench.md"
    args = ["bench", "--quick", "--out", str(tmp_path / "b"), "--doc", str(doc), "--judge", "none"]
    assert main(args) == 0
    text = doc.read_text()
    for name in ("sawtooth-mdlm", "sawtooth-coladd", "sawtooth-diladd", "shakespeare-mdlm", "shakespeare-diladd"):
        assert name in text
    assert "### shakespeare" in text and "true-nll" in text


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
