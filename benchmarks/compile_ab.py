"""``train.compile`` on vs off, per training step, at the ``ladd`` section's sizes of ``speed.py``.

Usage::

    python benchmarks/compile_ab.py [--threads 2] [--turns 5]

MDLM (DiT 64x4), Co-LADD stage 1 and Di-LADD stage 2 (MM-DiT width 40), eager and compiled, all
six steppers interleaved in one process (medians over turns; the first steps, which compile, are
untimed).  Ratios are to eager MDLM.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_utils import interleaved
from minimal_mdlm import PLUGIN
from speed import MDLM, SIZES, _config, _stepper

from ladd_core.plugins import load_plugins
from ladd_core.training.factory import build_trainer

RUNS = (  # label, preset, backbone override, stage 2
    ("MDLM", "sawtooth-mdlm", {**MDLM, "hidden": 64}, False),
    ("Co-LADD stage 1", "sawtooth-coladd", {"hidden": 40}, False),
    ("Di-LADD stage 2", "sawtooth-diladd", {"hidden": 40}, True),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--turns", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ns = argparse.Namespace(threads=args.threads, device="cpu", precision="fp32", attention="sdpa")
    comps = load_plugins(extra_plugins=[PLUGIN])
    small = SIZES["small"]
    with tempfile.TemporaryDirectory() as d:
        steppers = {}
        for compiled in (False, True):
            for label, preset, model, stage2 in RUNS:
                cfg = _config(comps, ns, preset, model, small["data"], small["batch"], stage2=stage2)
                cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"compile": compiled})})
                run = Path(d) / f"{preset}-{int(compiled)}"
                steppers[f"{label}, compile={compiled}"] = _stepper(build_trainer(cfg, comps, run, log=lambda *a: None))
        t0 = time.perf_counter()
        for name, step in steppers.items():  # compile and warm up, untimed
            for _ in range(3):
                step()
            print(f"[{time.perf_counter() - t0:6.1f}s] warm: {name}", file=sys.stderr)
        times = interleaved(steppers, calls=5, turns=args.turns, warmup=1, device=torch.device("cpu"))
    base = times["MDLM, compile=False"].median
    print("| run | ms / step | × eager MDLM |\n| --- | --- | --- |")
    for name, t in times.items():
        print(f"| {name} | {t.median * 1e3:.0f} (±{t.spread:.0%}) | {t.median / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
