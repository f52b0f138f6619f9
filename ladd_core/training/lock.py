"""An exclusive lock on a run directory: ``RUN/.lock``, held with ``fcntl.flock`` by the one trainer writing it.

The kernel releases a ``flock`` when its process dies (even on SIGKILL), so a lock left by a
killed trainer never blocks: the next trainer takes it at once and overwrites the stale body.
The body (``{"pid", "host", "started"}``) only serves the error message of a refused trainer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """Exclusive, non-blocking lock on ``run_dir`` (``acquire``/``release`` are idempotent).

    Args:
        run_dir: the run directory (created if missing).
        enabled: ``False`` makes every method a no-op (ranks other than 0 of a distributed run).
    """

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / LOCK_FILE
        self._file: IO[str] | None = None
        self.stale: dict[str, Any] | None = None  # the body a dead holder left, if any

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> RunLock:
        """Take the lock or fail at once.

        Raises:
            RunLockedError: another process holds it (its pid, host and start time are named).
        """
        if self._file is not None or not self.enabled:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read_body(f))
            f.close()
            raise RunLockedError(
                f"{self.path.parent} is in use by another trainer ({holder}); wait for it or use another --out"
            ) from None
        except BaseException:
            f.close()
            raise
        self.stale = _read_body(f) or None
        body = {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now(UTC).isoformat()}
        f.seek(0)
        f.truncate()
        f.write(json.dumps(body) + "\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Drop the lock (the file stays; its body is stale from now on)."""
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    @contextlib.contextmanager
    def released_on_error(self) -> Iterator[None]:
        """Release the lock if the block raises (keep it otherwise)."""
        try:
            yield
        except BaseException:
            self.release()
            raise

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        # closing the file drops the flock; no module globals here (they may be gone at interpreter exit)
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            f.close()


def _read_body(f: IO[str]) -> dict[str, Any]:
    try:
        f.seek(0)
        body = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _describe(body: dict[str, Any]) -> str:
    if not body:
        return "holder unknown"
    return f"pid {body.get('pid', '?')} on {body.get('host', '?')}, started {body.get('started', '?')}"
