"""Issue #31, tracebacks and misleading messages: one line that names the argument or the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from safetensors import SafetensorError

import ladd_core as ladd
import ladd_core.training.checkpoint as checkpoint
from ladd_core.config.errors import ConfigError
from ladd_core.outputs import OutputError
from ladd_core.training.checkpoint import find_checkpoints
from tests.faults._cli import cli, error_line, train_args


@pytest.mark.parametrize("max_steps", [0, -1, 2.5, "5"])
def test_api_train_names_a_bad_max_steps_and_makes_no_directory(tmp_path, max_steps):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="max_steps"):
        ladd.train(ladd.config("sawtooth-mdlm"), out=out, max_steps=max_steps)
    assert not out.exists()


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: ladd.train(ladd.config("sawtooth-mdlm"), out=None), "out"),  # type: ignore[arg-type]
        (lambda: ladd.load(None), "path"),  # type: ignore[arg-type]
        (lambda: ladd.config("sawtooth-mdlm", "train.max_steps=3"), "overrides"),
        (lambda: ladd.config(42), "source"),  # type: ignore[arg-type]
        (lambda: ladd.evaluate(["x"], num_samples="8"), "num_samples"),  # type: ignore[arg-type]
    ],
)
def test_api_wrong_types_raise_the_projects_error_naming_the_argument(call, name):
    with pytest.raises(ConfigError) as info:
        call()
    assert name in str(info.value)


def test_a_path_inside_overrides_is_accepted(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc\n")
    cfg = ladd.config("shakespeare-mdlm", {"data.name": "text", "data.files": [corpus]})
    assert [str(f) for f in cfg.data.files] == [str(corpus)]  # type: ignore[attr-defined]


def test_sample_prompt_of_the_wrong_type(trained_run):
    with pytest.raises(ConfigError, match="prompt"):
        ladd.load(trained_run).sample(2, prompt=101)  # type: ignore[arg-type]


def test_a_malformed_results_file_is_named(trained_run, tmp_path, capsys):
    for text in ("not json", "[1, 2]", '{"rows": [{"run": 3}]}', '{"rows": [{"metrics": {"x": {"value": "a"}}}]}'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        code, _, err = cli(capsys, "export", trained_run, tmp_path / "m", "--results", bad)
        error_line(code, err, str(bad))
        assert not (tmp_path / "m").exists()


def test_a_malformed_seed_eval_is_named(trained_run, tmp_path, capsys):
    (trained_run / "seed-eval.json").write_text('{"rows": "nope"}')
    code, _, err = cli(capsys, "export", trained_run, tmp_path / "m")
    error_line(code, err, str(trained_run / "seed-eval.json"))


def test_a_killed_exports_temporary_is_cleaned_at_the_next_start(trained_run, tmp_path, capsys):
    stale = tmp_path / ".model.999999999.abcd.tmp"  # pid 999999999 does not exist
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"x" * 1000)
    live = tmp_path / f".model.{os.getpid()}.efgh.tmp"  # a live export's temporary is left alone
    live.mkdir()
    assert cli(capsys, "export", trained_run, tmp_path / "model")[0] == 0
    assert not stale.exists() and live.exists()


def _disk_full(calls: list[int], after: int):
    real = checkpoint.save_file

    def save(tensors, path, *args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")
        return real(tensors, path, *args, **kwargs)

    return save


def test_disk_full_during_export_is_one_line_naming_the_path(trained_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint, "save_file", _disk_full([], 0))
    code, _, err = cli(capsys, "export", trained_run, tmp_path / "model")
    error_line(code, err, "model.safetensors", "28")
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(".model.*"))


def test_disk_full_during_training_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert cli(capsys, *train_args(run, 2))[0] == 0
    monkeypatch.setattr(checkpoint, "save_file", _disk_full([], 0))
    code, _, err = cli(capsys, *train_args(run, 4))
    error_line(code, err, "28", str(run / "checkpoints"))
    monkeypatch.undo()
    assert [p.name for p in find_checkpoints(run / "checkpoints")] == ["step-00000002"]
    assert cli(capsys, "sample", run, "--steps", "2", "--num-samples", "2", "--out", tmp_path / "s.jsonl")[0] == 0


def test_ladd_quiet_also_silences_the_datasets_bars(monkeypatch, capsys):
    monkeypatch.setenv("LADD_QUIET", "1")
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    assert cli(capsys, "config", "presets")[0] == 0
    assert os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS") == "1"


def test_results_of_the_api_name_a_bad_results_path(trained_run, tmp_path):
    res = ladd.evaluate([trained_run], steps=[1], num_samples=2, metrics=["true-nll"])
    with pytest.raises(OutputError, match="empty path"):
        res.save("")  # type: ignore[arg-type]
    res.save(tmp_path / "ok.json")
    assert json.loads(Path(tmp_path / "ok.json").read_text())["rows"]
