"""Issue #31, data loss: no ``--out``/``--doc``/``out=`` destroys a run or an export (one guard for every writer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ladd_core as ladd
from ladd_core.outputs import OutputError
from tests.faults._cli import TINY, cli, error_line

SAMPLE = ["--steps", "2", "--num-samples", "2", "--seed", "3"]
TEXT = [
    *TINY[:8], "--set", "train.batch_size=4", "--set", "train.eval_batches=1", "--set", "train.threads=0",
    "--set", "train.warmup_steps=1", "--set", "train.eval_every=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def _base_export(_base_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladd_core.cli.main import main

    dest = tmp_path_factory.mktemp("guard") / "export"
    assert main(["export", str(_base_run), str(dest)]) == 0
    return dest


@pytest.fixture
def export(_base_export: Path, tmp_path: Path) -> Path:
    """A private copy of an export of the tiny run."""
    dest = tmp_path / "export"
    shutil.copytree(_base_export, dest)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ckpt_state(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*"))[-1] / "state.json"


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "state", "export-weights"])
def test_eval_out_never_overwrites_a_run_or_an_export(trained_run, export, capsys, name):
    target = {
        "config.json": trained_run / "config.json",
        "metrics.jsonl": trained_run / "metrics.jsonl",
        "state": _ckpt_state(trained_run),
        "export-weights": export / "model.safetensors",
    }[name]
    before = snapshot(trained_run), snapshot(export)
    code, _, err = cli(capsys, "eval", trained_run, "--steps", "1", "--num-samples", "2", "--out", target)
    error_line(code, err, "--out")
    assert (snapshot(trained_run), snapshot(export)) == before


def test_bench_seeds_doc_never_appends_to_a_runs_config(trained_run, tmp_path, capsys):
    before = snapshot(trained_run)
    code, _, err = cli(
        capsys, "bench-seeds", "sawtooth-mdlm", "--seeds", "0", "--report-only", "--out", tmp_path / "none",
        "--doc", trained_run / "config.json",
    )  # fmt: skip
    error_line(code, err, "--doc", "config.json")
    assert snapshot(trained_run) == before


@pytest.mark.parametrize("name", ["model.safetensors", "README.md", "config.json", "notes.jsonl"])
def test_sample_never_writes_into_an_export(export, capsys, name):
    before = snapshot(export)
    code, _, err = cli(capsys, "sample", export, *SAMPLE, "--out", export / name)
    error_line(code, err, "read-only")
    assert snapshot(export) == before


def test_sample_never_overwrites_the_dropped_metrics(trained_run, capsys):
    (trained_run / "metrics.dropped.jsonl").write_text('{"step": 9}\n')
    before = snapshot(trained_run)
    code, _, err = cli(capsys, "sample", trained_run, *SAMPLE, "--out", trained_run / "metrics.dropped.jsonl")
    error_line(code, err, "metrics.dropped.jsonl")
    assert snapshot(trained_run) == before


def test_train_never_turns_an_export_into_a_run(export, capsys):
    before = snapshot(export)
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", export, "--max-steps", "2", *TINY)
    error_line(code, err, "read-only")
    assert snapshot(export) == before
    with pytest.raises(OutputError, match="read-only"):
        ladd.train(ladd.config("sawtooth-mdlm"), out=export, max_steps=2)
    assert snapshot(export) == before


def test_train_refuses_an_empty_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", "", "--max-steps", "2", *TINY)
    error_line(code, err, "empty path")
    with pytest.raises(OutputError, match="empty path"):
        ladd.train(ladd.config("sawtooth-mdlm"), out="", max_steps=2)
    assert list(tmp_path.iterdir()) == []


def test_api_train_refuses_a_non_empty_directory_that_is_not_a_run(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    with pytest.raises(OutputError, match="not a ladd run"):
        ladd.train(ladd.config("sawtooth-mdlm"), out=mine, max_steps=2)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


def test_train_out_inside_a_run_is_refused(trained_run, capsys):
    before = snapshot(trained_run)
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", trained_run / "checkpoints", *TINY)
    error_line(code, err, "inside the run")
    assert snapshot(trained_run) == before


def test_export_into_a_run_is_refused(trained_run, capsys):
    before = snapshot(trained_run)
    code, _, err = cli(capsys, "export", trained_run, trained_run / "exported")
    error_line(code, err, "inside the run")
    assert snapshot(trained_run) == before and not (trained_run / "exported").exists()


def test_a_link_to_a_runs_file_is_followed_to_the_run(trained_run, tmp_path, capsys):
    link = tmp_path / "innocent.jsonl"
    link.symlink_to(trained_run / "metrics.jsonl")
    before = snapshot(trained_run)
    code, _, err = cli(capsys, "sample", trained_run, *SAMPLE, "--out", link)
    error_line(code, err, "metrics.jsonl")
    assert snapshot(trained_run) == before


def test_a_sample_reader_never_refits_a_deleted_tokenizer_file(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join("abc def ghij " * 6 for _ in range(80)), encoding="utf-8")
    run = tmp_path / "run"
    data = ["--set", "data.name=text", "--set", f"data.files=[{corpus}]", "--set", "data.seq_len=16"]
    code, _, err = cli(capsys, "train", "shakespeare-mdlm", "--out", run, "--max-steps", "2", *TEXT, *data)
    assert code == 0, err
    tok = run / "data" / "tokenizer"
    for f in tok.iterdir():
        f.unlink()
    (tok / "notes.txt").write_text("another file left in the folder")
    code, _, err = cli(capsys, "sample", run, *SAMPLE, "--out", tmp_path / "s.jsonl")
    error_line(code, err, "tokenizer")
    assert [p.name for p in tok.iterdir()] == ["notes.txt"]  # the reader wrote nothing


def test_results_api_save_goes_through_the_guard(trained_run, tmp_path):
    res = ladd.evaluate([trained_run], steps=[1], num_samples=2, metrics=["true-nll"])
    before = snapshot(trained_run)
    with pytest.raises(OutputError):
        res.save(trained_run / "config.json")
    assert snapshot(trained_run) == before
    res.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["rows"]
