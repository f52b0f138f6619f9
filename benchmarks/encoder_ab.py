"""Step cost of the sawtooth LADD presets with variants of their latent channel, side by side with MDLM.

``python benchmarks/encoder_ab.py --threads 2 --set model.latent.encoder.layers=2`` times MDLM, each preset as
shipped, and each preset with the ``--set`` overrides applied (every variant interleaved in one process, as in
``speed.py``).  It answers "what would this preset change save per step" before a quality run is spent on it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed
import torch
from bench_utils import interleaved

from ladd_core.config.loading import apply_overrides
from ladd_core.plugins import get_components


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--stage2", action="store_true", help="time stage 2 instead of stage 1")
    p.add_argument("--presets", nargs="+", default=[p for _, p in speed.LADD_PRESETS], help="presets to vary")
    args = p.parse_args(argv)
    args.device, args.precision, args.attention = "cpu", "fp32", "sdpa"
    args.dev = torch.device("cpu")
    torch.set_num_threads(args.threads)
    comps = get_components()
    real_get, current = comps.get, {}

    # speed.py's trainer builders read the preset by name: serve the variant under that name while it is built
    def get(kind: str, name: str, *rest, **kw):
        return current[name] if kind == "preset" and name in current else real_get(kind, name, *rest, **kw)

    comps.get = get  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mdlm = speed.mdlm_trainer(comps, args, "small", tmp / "mdlm")
        target = speed._params(mdlm.model.backbone)
        steppers = {"MDLM": speed._stepper(mdlm)}
        params = {"MDLM": speed._params(mdlm.model)}
        for label, preset in (lp for lp in speed.LADD_PRESETS if lp[1] in args.presets):
            shipped = real_get("preset", preset)
            variant = apply_overrides(copy.deepcopy(shipped), list(args.overrides))
            for tag, cfg in (("shipped", shipped), ("variant", variant)):
                current[preset] = cfg
                trainer = speed.ladd_trainer(comps, args, preset, target, tmp / f"{preset}-{tag}", stage2=args.stage2)
                steppers[f"{label} {tag}"] = speed._stepper(trainer)
                params[f"{label} {tag}"] = speed._params(trainer.model)
            current.clear()
        times = interleaved(steppers, calls=args.calls, turns=args.turns, warmup=2, device=args.dev)
    base = times["MDLM"].median
    print(f"overrides: {args.overrides}; stage {2 if args.stage2 else 1}; {args.threads} threads")
    for name, t in times.items():
        print(
            f"{name:<32} {t.median * 1e3:7.1f} ms/step  {t.median / base:.2f}x MDLM  (spread {t.spread:.0%})  "
            f"{params[name]:,} params"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
