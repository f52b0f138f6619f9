"""Defects 4 and 7: resume finds the newest valid checkpoint itself, keeps history, reuses the stored config."""

from __future__ import annotations

import json
import shutil

from ladd_core.training.checkpoint import latest_checkpoint, load_checkpoint
from tests.faults._cli import TINY, cli, error_line, logged_steps, train_args


def test_deleted_latest_pointer_resumes_from_newest_checkpoint(trained_run, capsys):
    (trained_run / "checkpoints" / "latest").unlink()
    leftover = trained_run / "checkpoints" / ".step-00000005.x1y2.tmp"  # a save cut short by SIGKILL
    leftover.mkdir()
    code, _, err = cli(capsys, *train_args(trained_run, 6))
    assert code == 0, err
    assert "resumed from step-00000004" in err and "'latest' is missing" in err
    assert logged_steps(trained_run) == [1, 2, 3, 4, 5, 6], "history before the resume point is kept"
    assert not leftover.exists(), "temporary checkpoints of a dead trainer are cleaned up under the lock"


def test_corrupt_newest_checkpoint_falls_back_to_previous_and_says_so(trained_run, capsys):
    model = trained_run / "checkpoints" / "step-00000004" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:-9])
    code, _, err = cli(capsys, *train_args(trained_run, 4))
    assert code == 0, err
    assert "skipping checkpoint step-00000004" in err and "resumed from step-00000002" in err
    assert (trained_run / "checkpoints" / ".corrupt-step-00000004").is_dir(), "kept for inspection, never loaded"
    assert load_checkpoint(latest_checkpoint(trained_run / "checkpoints"))["train_state"].step == 4
    assert logged_steps(trained_run) == [1, 2, 3, 4]
    dropped = (trained_run / "metrics.dropped.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in dropped if '"loss"' in x] == [3, 4], "lines past step 2 set aside"
    assert "moved from metrics.jsonl" in err


def test_no_valid_checkpoint_is_an_error_not_a_restart(trained_run, capsys):
    for ck in (trained_run / "checkpoints").glob("step-*"):
        (ck / "state.json").write_text("{torn")
    before = (trained_run / "metrics.jsonl").read_text()
    code, _, err = cli(capsys, *train_args(trained_run, 6))
    error_line(code, err, "no checkpoint", "verifies")
    assert (trained_run / "metrics.jsonl").read_text() == before, "history untouched"


def test_latest_pointing_outside_the_run_is_ignored(trained_run, tmp_path, capsys):
    outside = tmp_path / "elsewhere" / "step-00000009"
    shutil.copytree(trained_run / "checkpoints" / "step-00000002", outside)
    (trained_run / "checkpoints" / "latest").write_text("../../elsewhere/step-00000009\n")
    code, _, err = cli(capsys, *train_args(trained_run, 5))
    assert code == 0, err
    assert "not a checkpoint name" in err and "resumed from step-00000004" in err


def test_readme_resume_line_reuses_the_stored_config(tmp_path, capsys):
    run = tmp_path / "saw"
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", run, *TINY, "--set", "train.max_steps=3")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", run)  # the README's second line
    assert code == 0, err
    assert "resumed from step-00000003" in err
    code, _, err = cli(capsys, "train", "sawtooth-mdlm", "--out", run, "--set", "train.max_steps=5")
    assert code == 0, err
    assert "train.max_steps: 3 → 5" in err and logged_steps(run)[-1] == 5
    assert json.loads((run / "config.json").read_text())["config"]["train"]["max_steps"] == 5


def test_unsafe_change_is_refused_naming_each_field(trained_run, capsys):
    code, _, err = cli(
        capsys, "train", "sawtooth-mdlm", "--out", trained_run, "--set", "train.lr=0.5", "--set", "seed=3"
    )
    line = error_line(code, err, "different config", "train.lr:", "→ 0.5", "seed: 0 → 3")
    assert "train.max_steps" not in line
