"""Stopping training cleanly on SIGINT/SIGTERM: the loop finishes its step, saves a checkpoint, then stops.

The handler only sets a flag; :class:`~ladd_core.training.trainer.Trainer` checks it after each
step, saves (atomically, as always) and raises :class:`TrainingInterrupted`, which the CLI turns
into exit status ``128 + signal`` (130 for SIGINT, 143 for SIGTERM).  A second signal aborts at
once without saving; the previous checkpoint is intact because saves are atomic.  Handlers are
only installed in the main thread of a single-process run (under ``torchrun`` the ranks could
stop at different steps).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["StopOnSignal", "TrainingInterrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped training after a checkpoint was saved; ``exit_code`` is ``128 + signal``."""

    def __init__(self, signum: int, step: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"{name}: stopped at step {step} after saving a checkpoint; rerun the same command to resume")
        self.exit_code = 128 + signum


class StopOnSignal:
    """While active, SIGINT/SIGTERM set ``signum`` (the loop saves and stops); a second one aborts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum = 0
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: aborted without saving")
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        if self.enabled:
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
