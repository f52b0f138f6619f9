"""Fault-test helpers: a tiny trained run, an in-process CLI with a deadline, error-line checks."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ladd_core.cli.main import main
from tests._cli_runs import tiny_args

TINY = tiny_args()


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


def train_char_run(root: Path) -> Path:
    """A 2-step character-level ``text`` run over the letters a-j in ``root / "run"`` (its corpus beside it)."""
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join("abc def ghij " * 6 for _ in range(80)), encoding="utf-8")
    run = root / "run"
    data = ["--set", "data.name=text", "--set", f"data.files=[{corpus}]", "--set", "data.seq_len=16"]
    small = [*TINY[:8], "--set", "train.batch_size=4", "--set", "train.eval_every=0", "--set", "train.threads=0"]
    assert main(["train", "shakespeare-mdlm", "--out", str(run), "--max-steps", "2", *small, *data]) == 0
    return run


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
