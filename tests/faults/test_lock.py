"""Defect 2: two trainers on one run directory both ran; the second must refuse at once, naming the holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from ladd_core.plugins import get_components
from ladd_core.training.lock import RunLock
from tests._cli_runs import spawn_cli, wait_for
from tests.faults._cli import cli, error_line, logged_steps, train_args


def test_second_trainer_refuses_in_under_a_second_and_first_is_unharmed(tmp_path, capsys):
    run = tmp_path / "run"
    first = spawn_cli(*train_args(run, 40))
    try:
        wait_for(lambda: len(logged_steps(run)) >= 1, first)
        get_components()  # plug-in discovery is process start-up, not part of the refusal
        t0 = time.monotonic()
        code, _, err = cli(capsys, *train_args(run, 40, "--set", "train.lr=0.01"))
        elapsed = time.monotonic() - t0
        error_line(code, err, "in use by another trainer", f"pid {first.pid}", socket.gethostname(), "started")
        # ~0.1 s on an idle machine; a shared, overloaded CI box gets slack, never enough to hide a blocking wait
        limit = 1.0 if os.getloadavg()[0] <= 2 * (os.cpu_count() or 1) else 5.0
        assert elapsed < limit, f"refusal took {elapsed:.2f}s"
        assert first.wait(timeout=600) == 0, first.stderr.read().decode()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert logged_steps(run) == list(range(1, 41)), "one record per step, none from the refused trainer"
    lrs = {json.loads(line)["lr"] for line in (run / "metrics.jsonl").read_text().splitlines() if '"lr"' in line}
    lr = json.loads((run / "config.json").read_text())["config"]["train"]["lr"]
    assert lr != 0.01 and max(lrs) == lr, "the refused trainer's learning rate never reached config or log"


def test_lock_held_in_process_is_named(tmp_path, capsys):
    from ladd_core.training.lock import RunLock

    run = tmp_path / "run"
    with RunLock(run):
        body = json.loads((run / ".lock").read_text())
        assert body["pid"] == os.getpid() and body["host"] == socket.gethostname() and body["started"]
        code, _, err = cli(capsys, *train_args(run, 2))
        error_line(code, err, f"pid {os.getpid()}")
    assert not (run / "config.json").exists(), "the refused trainer wrote nothing"


def test_stale_lock_of_a_killed_trainer_does_not_block(tmp_path, capsys):
    run = tmp_path / "run"
    victim = spawn_cli(*train_args(run, 100000))
    wait_for(lambda: len(logged_steps(run)) >= 1, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert json.loads((run / ".lock").read_text())["pid"] == victim.pid, "the dead holder's body is left behind"
    code, _, err = cli(capsys, *train_args(run, 3))
    assert code == 0, err
    assert json.loads((run / ".lock").read_text())["pid"] == os.getpid(), "the stale body is overwritten"


def test_lock_is_released_when_training_ends(tmp_path, capsys):
    run = tmp_path / "run"
    from ladd_core.training.lock import RunLock

    assert cli(capsys, *train_args(run, 2))[0] == 0
    with RunLock(run) as lock:  # would raise if the finished trainer still held it
        assert lock.held
    assert cli(capsys, *train_args(run, 3, "--set", "seed=9"))[0] == 2  # refused while starting
    with RunLock(run) as lock:
        assert lock.held


def test_a_lock_still_held_at_interpreter_exit_is_dropped_silently(tmp_path) -> None:
    """A trainer built from Python and never closed: no traceback from ``__del__`` at exit, the run is free."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ladd_core.training.lock import RunLock\n"
        # held by a module that is torn down last: collected when lock.py's globals are already gone
        f"sys._ladd_keep = RunLock(Path({str(tmp_path)!r})).acquire()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    with RunLock(tmp_path) as lock:  # the dead holder's lock is gone
        assert lock.held


def test_dropping_a_held_lock_object_frees_the_run(tmp_path) -> None:
    import gc

    lock = RunLock(tmp_path).acquire()
    del lock
    gc.collect()
    with RunLock(tmp_path) as again:
        assert again.held
