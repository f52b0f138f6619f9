"""Issue #31, the property: for any output path inside a run or an export, every writing command either
refuses with one line or leaves the run loading and sampling the same ids as before."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.faults._cli import TINY, cli, error_line

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SAMPLE = ["--steps", "2", "--num-samples", "3", "--seed", "11"]
NAMES = ["config.json", "metrics.jsonl", "metrics.dropped.jsonl", ".lock", "seed-eval.json", "README.md",
         "model.safetensors", "checkpoints", "checkpoints/latest", "data", "data/tokenizer/x.json", "x.json",
         "x.jsonl", "x.md", "x.png", "new/dir", ".hidden.json", ""]  # fmt: skip
COMMANDS = ["sample", "eval", "eval-plot", "bench-seeds-doc", "export", "train"]


@pytest.fixture(scope="module")
def homes(_base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A private run and an export of it, shared by the examples (each example must leave them intact)."""
    from ladd_core.cli.main import main

    root = tmp_path_factory.mktemp("property")
    run = root / "run"
    shutil.copytree(_base_run, run)
    export = root / "export"
    assert main(["export", str(run), str(export)]) == 0
    return run, export


def _ids(capsys: pytest.CaptureFixture[str], home: Path, scratch: Path) -> list[list[int]]:
    out = scratch / "ids.jsonl"
    code, _, err = cli(capsys, "sample", home, *SAMPLE, "--out", out)
    assert code == 0, err
    ids = [json.loads(line)["tokens"] for line in out.read_text().splitlines()]
    out.unlink()
    return ids


def _command(name: str, home: Path, target: Path, scratch: Path) -> list[str | Path]:
    return {
        "sample": ["sample", home, *SAMPLE, "--out", target],
        "eval": ["eval", home, "--steps", "1", "--num-samples", "2", "--metrics", "true-nll", "--out", target],
        "eval-plot": [
            "eval",
            home,
            "--steps",
            "1",
            "--num-samples",
            "2",
            "--metrics",
            "true-nll",
            "--out",
            scratch / "r.json",
            "--plot",
            target,
        ],
        "bench-seeds-doc": [
            "bench-seeds",
            "sawtooth-mdlm",
            "--seeds",
            "0",
            "--report-only",
            "--out",
            scratch / "none",
            "--doc",
            target,
        ],
        "export": ["export", home, target],
        "train": ["train", "sawtooth-mdlm", "--out", target, "--max-steps", "2", *TINY],
    }[name]  # type: ignore[return-value]


@PROPERTY
@given(which=st.sampled_from(["run", "export"]), name=st.sampled_from(NAMES), command=st.sampled_from(COMMANDS))
def test_any_output_inside_a_run_or_export_is_refused_or_harmless(homes, tmp_path, capsys, which, name, command):
    run, export = homes
    home = run if which == "run" else export
    scratch = Path(tempfile.mkdtemp(dir=tmp_path, prefix=f"{which}-{command}-"))
    before = {h: _ids(capsys, h, scratch) for h in (run, export)}
    target = home / name if name else home
    code, _, err = cli(capsys, *_command(command, home, target, scratch))
    if code != 0:
        error_line(code, err)
    for h in (run, export):
        assert _ids(capsys, h, scratch) == before[h], f"{command} --out {target} changed what {h.name} samples"
    if code == 0 and target.exists() and target != home:  # an accepted output is one of the command's own files
        assert target.parent == home and not target.name.startswith(".")
        if target.is_file():
            target.unlink()
