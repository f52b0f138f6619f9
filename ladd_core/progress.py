"""Progress reporting for long commands: a bar with ETA on a terminal, plain lines in logs, nothing when quiet.

On an interactive terminal (stderr is a TTY) a :class:`Progress` draws a ``tqdm`` bar.  Anywhere else
(CI logs, redirected files) it never writes carriage returns: it prints one complete line when at
least ``interval`` seconds passed since the last one (default 60 s, ``LADD_PROGRESS_INTERVAL``)
and one final line when it closes, so a log holds a few readable lines per bar.
``LADD_QUIET=1`` (what the CLI's ``--quiet`` sets) switches all of it off.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "format_seconds", "quiet"]

QUIET_ENV = "LADD_QUIET"
INTERVAL_ENV = "LADD_PROGRESS_INTERVAL"


def quiet() -> bool:
    """Whether progress output is switched off (``LADD_QUIET`` set to anything but ``""``/``0``)."""
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def format_seconds(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``; under a minute ``"12.3s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class Progress:
    """Counts finished units of ``total`` and reports them with an ETA.

    Args:
        total: units to do (``> 0``).
        desc: what is being done, e.g. ``"sampling runs/co"``.
        unit: the unit's name in the lines.
        stream: where to write (default ``sys.stderr``).
        enabled: ``None`` = on unless :func:`quiet`.
        interactive: ``None`` = ``stream.isatty()``.
        interval: seconds between plain lines (default ``LADD_PROGRESS_INTERVAL`` or 60).
        clock: the time source (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        unit: str = "it",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interactive: bool | None = None,
        interval: float | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit = max(int(total), 1), desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (not quiet()) if enabled is None else enabled
        tty = interactive if interactive is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else float(os.environ.get(INTERVAL_ENV, "60"))
        self._clock = clock
        self.n = 0
        self._start = clock()
        self._last_line = self._start
        self._closed = False
        self._bar = None
        if self.enabled and tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream, leave=True, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=kind is not None)

    def eta(self) -> float | None:
        """Seconds left at the average rate so far (``None`` before the first unit)."""
        if self.n <= 0:
            return None
        elapsed = self._clock() - self._start
        return elapsed / self.n * max(self.total - self.n, 0)

    def line(self) -> str:
        """The plain progress line: ``desc: n/total unit (p%) elapsed, eta``."""
        elapsed = self._clock() - self._start
        pct = 100.0 * self.n / self.total
        eta = self.eta()
        tail = "" if eta is None or self.n >= self.total else f", eta {format_seconds(eta)}"
        return f"{self.desc}: {self.n}/{self.total} {self.unit} ({pct:.0f}%) {format_seconds(elapsed)}{tail}"

    def update(self, n: int = 1) -> None:
        """``n`` more units finished."""
        self.n = min(self.n + n, self.total)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last_line >= self.interval and self.n < self.total:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def write(self, message: str) -> None:
        """Print a message without breaking the bar (always printed, even when quiet: it is not progress)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self, failed: bool = False) -> None:
        """Finish the bar; in plain mode print the final line (``stopped`` when it did not complete)."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            return
        suffix = " (stopped)" if failed or self.n < self.total else ""
        print(self.line() + suffix, file=self.stream, flush=True)
