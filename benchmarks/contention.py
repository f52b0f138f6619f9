"""Training on a busy machine: a step's time alone and next to one competing process, per preset.

The competitor is a second process doing what another training job does to a CPU: float32 matmuls on
as many threads as there are cores (``torch.set_num_threads(cores)``), started a few seconds before the
measurement so the thread governor sees it. Three settings per model, each a median over turns:

* alone, ``train.threads`` "auto" (the governor measures the machine every few seconds);
* with the competitor, "auto";
* with the competitor, a fixed thread count equal to the cores (the old default).

Target (issue #16): with one competitor no preset slows more than 3× against its own idle speed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from ladd_core.training.threads import CHECK_SECONDS, ThreadGovernor, available_cores

__all__ = ["competitor", "contention_rows"]

_BUSY = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384)
while True:
    a = torch.tanh(a @ a)
"""


def competitor(threads: int) -> subprocess.Popen[bytes]:
    """A process that keeps ``threads`` cores busy with matmuls until killed."""
    return subprocess.Popen([sys.executable, "-c", _BUSY, str(threads)])


def _median_step(step: Callable[[], object], gov: ThreadGovernor, steps: int, turns: int) -> tuple[float, int]:
    """Median seconds per step over ``turns`` runs of ``steps`` steps; the governor is consulted every step."""
    times = []
    for _ in range(turns):
        t0 = time.perf_counter()
        for _ in range(steps):
            gov.check()
            step()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times), gov.threads


def contention_rows(
    steppers: dict[str, Callable[[], object]], steps: int, turns: int, warmup: int, log: Callable[[str], None]
) -> list[list[str]]:
    """One table row per model: ms/step alone, with a competitor (auto and fixed threads), slowdowns."""
    cores = available_cores()
    before = torch.get_num_threads()
    rows = []
    try:
        for name, step in steppers.items():
            log(f"contention: {name}")
            torch.set_num_threads(cores)
            auto = ThreadGovernor("auto", lambda _m: None, cores=cores)
            auto.start()
            for _ in range(warmup):
                step()
            time.sleep(CHECK_SECONDS + 0.5)  # a full governor window of the idle machine
            auto.check(force=True)
            idle, _ = _median_step(step, auto, steps, turns)
            proc = competitor(cores)
            try:
                time.sleep(CHECK_SECONDS + 0.5)  # the competitor is running when the measurement starts
                auto.check(force=True)
                busy_auto, threads = _median_step(step, auto, steps, turns)
                fixed = ThreadGovernor(cores, lambda _m: None, cores=cores)
                fixed.start()
                busy_fixed, _ = _median_step(step, fixed, steps, turns)
            finally:
                proc.kill()
                proc.wait()
            slow_auto, slow_fixed = busy_auto / idle, busy_fixed / idle
            rows.append(
                [
                    name,
                    f"{idle * 1e3:.0f}",
                    f"{busy_auto * 1e3:.0f} ({threads} thread{'s' if threads != 1 else ''})",
                    f"{slow_auto:.2f}×",
                    f"{busy_fixed * 1e3:.0f}",
                    f"{slow_fixed:.2f}×",
                    "yes" if slow_auto <= 3 else "**no**",
                ]
            )
    finally:
        torch.set_num_threads(before)
    return rows


HEADER = [
    "model (stage 1)",
    "ms / step alone (auto)",
    "ms / step, 1 competitor (auto)",
    "slowdown (auto)",
    "ms / step, 1 competitor (threads = cores)",
    "slowdown (fixed)",
    "auto ≤ 3×",
]
