"""Defect 6 and damaged run directories: every file a checkpoint must have is required and verified."""

from __future__ import annotations

import json

import pytest

from ladd_core.training.checkpoint import CheckpointError, load_checkpoint
from tests.faults._cli import cli, error_line


def _state(run):
    path = run / "checkpoints" / "step-00000004" / "state.json"
    return path, json.loads(path.read_text())


def test_removed_sha256_entry_does_not_skip_the_ema_weights(trained_run):
    path, meta = _state(trained_run)
    del meta["sha256"]["ema.safetensors"]
    path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"checksums missing for \['ema.safetensors'\]"):
        load_checkpoint(path.parent)


def test_state_json_has_a_schema_version(trained_run):
    _, meta = _state(trained_run)
    assert meta["format_version"] == 2 and meta["has_ema"] is True


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda m: m.pop("train_state"), "missing keys ['train_state']"),
        (lambda m: m.update(surprise=1), "unexpected keys ['surprise']"),
        (lambda m: m["train_state"].pop("epoch"), "train_state must have keys"),
        (lambda m: m["train_state"].update(step="4"), "non-negative integers"),
        (lambda m: m.update(format_version=99), "unsupported checkpoint format 99"),
        (lambda m: m["sha256"].update({"evil.safetensors": "0"}), "unexpected entries ['evil.safetensors']"),
        (lambda m: m.update(sha256=[]), "'sha256' an object"),
        (lambda m: m.update(optimizer=None), "param_groups"),
    ],
)
def test_bad_state_json_is_a_clear_error(trained_run, damage, needle):
    path, meta = _state(trained_run)
    damage(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path.parent)
    msg = str(info.value)
    assert needle in msg and str(path.parent) in msg, msg


@pytest.mark.parametrize(
    "damage",
    [
        "delete:model.safetensors",
        "delete:ema.safetensors",
        "truncate:optimizer.safetensors",
        "flip:rng.safetensors",
        "garbage:state.json",
        "binary:state.json",
        "delete:state.json",
    ],
)
def test_every_damaged_file_is_reported_by_sample_without_traceback(trained_run, tmp_path, capsys, damage):
    for name in ("step-00000002", "step-00000004"):  # damage both: no fallback left
        kind, fname = damage.split(":")
        f = trained_run / "checkpoints" / name / fname
        if kind == "delete":
            f.unlink()
        elif kind == "truncate":
            f.write_bytes(f.read_bytes()[:-5])
        elif kind == "flip":
            data = bytearray(f.read_bytes())
            data[-1] ^= 0xFF
            f.write_bytes(bytes(data))
        elif kind == "garbage":
            f.write_text("[1, 2")
        else:
            f.write_bytes(b"\xff\xfe\x00binary")
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "no checkpoint", "verifies")


@pytest.mark.parametrize(
    ("target", "content"),
    [("config.json", b"{not json"), ("config.json", b"\xff\xfe"), ("config.json", b"[]"), ("metrics.jsonl", None)],
)
def test_damaged_run_files(trained_run, tmp_path, capsys, target, content):
    f = trained_run / target
    if content is None:  # a non-UTF-8 line in the metrics history
        f.write_bytes(f.read_bytes() + b"\xff\xfe torn\n")
        code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", trained_run, "--max-steps", "5")
        assert code == 0, err
        assert "moved from metrics.jsonl" in err
        return
    f.write_bytes(content)
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "config.json")
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", trained_run)
    error_line(code, err, "config.json")


def test_config_whose_shapes_no_longer_match_the_checkpoint(trained_run, tmp_path, capsys):
    f = trained_run / "config.json"
    record = json.loads(f.read_text())
    record["config"]["model"]["backbone"]["hidden"] = 24
    f.write_text(json.dumps(record))
    code, _, err = cli(capsys, "sample", trained_run, "--steps", "2", "--out", tmp_path / "s.jsonl")
    error_line(code, err, "does not fit the run's config")
