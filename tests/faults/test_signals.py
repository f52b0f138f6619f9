"""Defect 8: SIGINT/SIGTERM saved nothing; now the trainer checkpoints the step it is at and exits 128 + signal."""

from __future__ import annotations

import signal

import pytest

from ladd_core.training.checkpoint import latest_checkpoint, load_checkpoint
from tests._cli_runs import spawn_cli, wait_for
from tests.faults._cli import TINY, logged_steps


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits_with_a_message(tmp_path, sig):
    run = tmp_path / "run"
    args = [
        "train",
        "sawtooth-mdlm",
        "--out",
        run,
        "--max-steps",
        "100000",
        *TINY,
        "--set",
        "train.checkpoint_every=1000",
    ]
    proc = spawn_cli(*args)
    try:
        wait_for(lambda: len(logged_steps(run)) >= 3, proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=300) == 128 + sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and f"{signal.Signals(sig).name}: stopped at step" in err
    step = load_checkpoint(latest_checkpoint(run / "checkpoints"))["train_state"].step
    assert step >= 3 and step == logged_steps(run)[-1], "the checkpoint is at the last finished step"
    assert not list((run / "checkpoints").glob(".*")), "no temporary checkpoint left"
