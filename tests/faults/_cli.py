"""Fault-test helpers: a tiny trained run, an in-process CLI with a deadline, error-line checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ladd_core.cli.main import main

TINY = [
    "--set", "model.backbone.hidden=16", "--set", "model.backbone.layers=1", "--set", "model.backbone.heads=2",
    "--set", "model.backbone.cond_dim=8", "--set", "data.seq_len=32", "--set", "data.train_size=256",
    "--set", "data.val_size=32", "--set", "train.batch_size=8", "--set", "train.log_every=1",
    "--set", "train.checkpoint_every=2", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
    "--set", "train.threads=0", "--set", "train.warmup_steps=2",
]  # fmt: skip
CLI_CODE = "import sys; from ladd_core.cli.main import main; sys.exit(main(sys.argv[1:]))"


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` in this (main) thread after ``seconds``: a hang fails instead of blocking the suite."""

    def _expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds}s (hang?)")

    old = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def cli(capsys: pytest.CaptureFixture[str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """``ladd ARGS`` in-process under a deadline: ``(exit status, stdout, stderr)``."""
    capsys.readouterr()
    with deadline(timeout):
        code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(code: int, err: str, *needles: str) -> str:
    """Assert a user error: status 2, no traceback, exactly one ``error:`` line (the last), naming ``needles``."""
    assert code == 2, f"exit status {code}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"want one final error line, got: {err!r}"
    for n in needles:
        assert n in errors[0], f"{n!r} not in {errors[0]!r}"
    return errors[0]


def train_args(run: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "sawtooth-mdlm", "--out", str(run), "--max-steps", str(steps), *TINY, *extra]


@pytest.fixture(scope="session")
def _base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("faults") / "base"
    assert main(train_args(run, 4)) == 0  # checkpoints at steps 2 and 4
    return run


@pytest.fixture
def trained_run(_base_run: Path, tmp_path: Path) -> Path:
    """A private copy of a 4-step tiny sawtooth run (checkpoints step-2 and step-4)."""
    run = tmp_path / "run"
    shutil.copytree(_base_run, run)
    return run


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


def logged_steps(run: Path) -> list[int]:
    import json

    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if "loss" in rec:
                steps.append(rec["step"])
    return steps
