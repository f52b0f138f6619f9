"""CLI-run helpers shared by the tests: the tiny sawtooth training overrides and a ``ladd`` child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

CLI_CODE = "import sys; from ladd_core.cli.main import main; sys.exit(main(sys.argv[1:]))"


def tiny_args(*, log_every: int = 1, checkpoint_every: int = 2, threads: int = 0) -> list[str]:
    """``--set`` overrides that shrink a sawtooth run to seconds (1 layer, width 16, 32-token rows, batch 8)."""
    return [
        "--set", "model.backbone.hidden=16", "--set", "model.backbone.layers=1", "--set", "model.backbone.heads=2",
        "--set", "model.backbone.cond_dim=8", "--set", "data.seq_len=32", "--set", "data.train_size=256",
        "--set", "data.val_size=32", "--set", "train.batch_size=8", "--set", f"train.log_every={log_every}",
        "--set", f"train.checkpoint_every={checkpoint_every}", "--set", "train.eval_every=0",
        "--set", "train.eval_batches=1", "--set", f"train.threads={threads}", "--set", "train.warmup_steps=2",
    ]  # fmt: skip


def spawn_cli(*args: str) -> subprocess.Popen[bytes]:
    """``ladd ARGS`` in a child process (stdout discarded, stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI_CODE, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    """Poll ``predicate()`` until true; fail if ``proc`` exits first or time runs out."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"child exited early ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        if time.monotonic() > end:
            proc.kill()
            proc.wait()
            pytest.fail("timed out waiting for the child")
        time.sleep(0.01)
