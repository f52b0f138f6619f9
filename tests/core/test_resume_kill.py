"""Exact resume after SIGKILL: the loss trajectory equals an uninterrupted run step for step."""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path

from ladd_core.cli.main import main
from ladd_core.training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from tests._cli_runs import spawn_cli, tiny_args, wait_for

TINY = tiny_args(threads=1)
TOTAL, KILL_AFTER = 40, 6


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _latest_step(run: Path) -> int:
    try:
        path = latest_checkpoint(run / "checkpoints")
    except (CheckpointError, OSError):  # the pointer is being replaced
        return -1
    return -1 if path is None else int(path.name.split("-")[1])


def _logged_steps(run: Path) -> set[int]:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return set()
    steps = set()
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            steps.add(json.loads(line)["step"])
    return steps


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    proc = spawn_cli("train", "sawtooth-mdlm", "--out", run, "--max-steps", "100000", *TINY)
    try:
        # the reference trains while the victim starts up
        assert main(["train", "sawtooth-mdlm", "--out", str(ref), "--max-steps", str(TOTAL), *TINY]) == 0
        # kill once a step past the newest checkpoint is logged: resume must drop that line and redo it
        wait_for(lambda: (ck := _latest_step(run)) >= KILL_AFTER and ck + 1 in _logged_steps(run), proc, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = _latest_step(run)
    assert proc.returncode == -signal.SIGKILL and KILL_AFTER <= killed_at < TOTAL
    assert main(["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", str(TOTAL), *TINY]) == 0

    want = [(r["step"], r["loss"], r["grad_norm"]) for r in _records(ref) if "loss" in r]
    got = [(r["step"], r["loss"], r["grad_norm"]) for r in _records(run) if "loss" in r]
    assert [s for s, *_ in got] == list(range(1, TOTAL + 1)), "one log line per step, none duplicated or lost"
    assert got == want, "the resumed trajectory equals the uninterrupted one"
    wa = load_checkpoint(latest_checkpoint(ref / "checkpoints"))["model"]
    wb = load_checkpoint(latest_checkpoint(run / "checkpoints"))["model"]
    assert all((wa[k] == wb[k]).all() for k in wa)
