"""CPU threads that follow the machine's load, so a shared machine slows training fairly, not 20-fold.

Every process that spins as many OpenMP threads as there are cores collapses when several share
the cores: threads wait on each other at every op.  With ``train.threads = "auto"`` the trainer
measures how many cores *other* processes keep busy (``/proc/stat`` minus this process's own CPU
time, over the last few seconds) and uses the cores left over, at least 1 and at most the
thread count the process started with.  It re-checks every few seconds at a step boundary and
says so when it changes the count.  A fixed ``train.threads = N`` is never changed (use it when
runs must be bitwise reproducible across machines and loads: the thread count can change the order
of floating-point sums).
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["CpuSample", "ThreadGovernor", "available_cores", "choose_threads", "other_busy_cores", "read_cpu_sample"]

CHECK_SECONDS = 3.0  # minimum window between two measurements
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds of the whole machine (``busy``) and of this process (``own``) at ``wall`` time."""

    busy: float
    own: float
    wall: float


def read_cpu_sample(stat: Path = Path("/proc/stat")) -> CpuSample | None:
    """Now's counters, or ``None`` where ``/proc/stat`` is not available (then nothing adapts)."""
    try:
        first = stat.read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    if not first or first[0] != "cpu":
        return None
    fields = [int(x) for x in first[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = (sum(fields[:8]) - idle) / _HZ  # user nice system idle iowait irq softirq steal; guest is in user
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSample(busy=busy, own=usage.ru_utime + usage.ru_stime, wall=time.monotonic())


def other_busy_cores(before: CpuSample, after: CpuSample) -> float:
    """Cores kept busy by other processes between two samples (>= 0)."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    return max(0.0, ((after.busy - before.busy) - (after.own - before.own)) / wall)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(cores: int, others: float, ceiling: int) -> int:
    """Threads for the cores other processes leave free: ``round(cores - others)``, within ``[1, ceiling]``."""
    free = math.floor(cores - others + 0.5)
    return max(1, min(ceiling, free))


class ThreadGovernor:
    """Sets torch's intra-op threads from the machine's load (``"auto"``) or once to a fixed number.

    Args:
        requested: ``"auto"``, a positive count, or ``0`` (leave torch's setting alone).
        log: where notices go.
        sample: the counter source (tests pass a fake one).
        set_threads / get_threads: torch's setters (tests pass fakes).
        cores: available cores (default :func:`available_cores`).
        clock: the time source of ``sample`` (checked first, so a step reads no counters inside the window).
        hint: how the user fixes the count, appended to the notice ("" for none).
    """

    def __init__(
        self,
        requested: int | str,
        log: Callable[[str], None],
        *,
        sample: Callable[[], CpuSample | None] = read_cpu_sample,
        set_threads: Callable[[int], None] = torch.set_num_threads,
        get_threads: Callable[[], int] = torch.get_num_threads,
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        hint: str = "train.threads=N fixes the count",
    ) -> None:
        self.requested = requested
        self.hint = hint
        self.log = log
        self._sample, self._set, self._get, self._clock = sample, set_threads, get_threads, clock
        self.cores = cores or available_cores()
        self.ceiling = 1
        self.threads = 0
        self._last: CpuSample | None = None
        self._initial = 0
        self.changes = 0

    @property
    def adaptive(self) -> bool:
        return self.requested == "auto"

    def start(self) -> None:
        """Apply the setting; in ``auto`` mode take the first measurement (the count follows at :meth:`check`)."""
        self._initial = self._get()
        if isinstance(self.requested, int) and self.requested > 0:
            self._set(self.requested)
        self.threads = self._get()
        self.ceiling = min(self.threads, self.cores)
        if self.adaptive:
            self._last = self._sample()

    def check(self, force: bool = False) -> int:
        """At a step boundary: re-measure (every ``CHECK_SECONDS``) and adapt; returns the thread count."""
        if not self.adaptive or self._last is None:
            return self.threads
        if not force and self._clock() - self._last.wall < CHECK_SECONDS:
            return self.threads  # the hot path: one clock read per step
        now = self._sample()
        if now is None:
            return self.threads
        others = other_busy_cores(self._last, now)
        self._last = now
        want = choose_threads(self.cores, others, self.ceiling)
        if want != self.threads:
            self._set(want)
            self.log(
                f"notice: other processes keep {others:.1f} of {self.cores} cores busy; "
                f"{'using' if want < self.threads else 'back to'} {want} thread{'s' * (want > 1)}"
                + (f" ({self.hint})" if self.hint else "")
            )
            self.threads = want
            self.changes += 1
        return self.threads

    def restore(self) -> None:
        """Give torch back the thread count it had before :meth:`start`: a process that trains and then samples
        or evaluates (``ladd bench``, ``ladd demo``, the Python API) must not keep a count chosen for the
        training run, e.g. 1 thread picked while another job was busy."""
        if self._initial > 0 and self._get() != self._initial:
            self._set(self._initial)
        self.threads = self._get()
