"""What one small tensor operation costs right after a network call, against the same operation warm.

A sampler's step on a small model is a few dozen tiny kernels between two network calls.  This measures
why a step costs more inside a chain than alone: the first call of each *kind* of kernel after the
network pays for code the network evicted; later calls of the same kind are nearly warm.  So the
overhead of a step is set by how many kinds of kernels it runs, not by how much arithmetic.

For each filler (the sawtooth MDLM's forward at B = 4, or nothing), it runs the filler and then six
``add`` and six ``rand`` calls on a ``(4, 128)`` tensor, timing each; medians over repetitions.

Usage::

    python benchmarks/cold_kernels.py [--reps 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from sampling_speed import build

from ladd_core.plugins import load_plugins


def timings(filler: Callable[[], object], reps: int) -> list[float]:
    """Median microseconds of the k-th operation after ``filler`` (six ``add`` then six ``rand``)."""
    a = torch.zeros(4, 128)
    per_op: list[list[float]] = [[] for _ in range(12)]
    for _ in range(reps):
        filler()
        for k in range(12):
            t0 = time.perf_counter()
            if k < 6:
                a.add(1)
            else:
                torch.rand(4, 128)
            per_op[k].append(time.perf_counter() - t0)
    return [statistics.median(v) * 1e6 for v in per_op]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build(load_plugins(), "sawtooth-mdlm", torch.device("cpu"))
    x, t = torch.full((4, 128), model.process.mask_id), torch.ones(4)
    fillers: dict[str, Callable[[], object]] = {
        "after a network call": lambda: model.backbone(x, None, t, None, None),
        "warm (nothing between)": lambda: None,
    }
    print(
        "| before the operations | "
        + " | ".join([f"add {i + 1}" for i in range(6)] + [f"rand {i + 1}" for i in range(6)])
        + " |"
    )
    print("| --- |" + " ---: |" * 12)
    with torch.inference_mode():
        for name, filler in fillers.items():
            print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in timings(filler, args.reps)) + " |")
    print("\n(µs per operation, medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
