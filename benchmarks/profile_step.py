"""Where a training step's time goes: aten op counts and top ops per module, MDLM vs the latent channels.

Usage::

    python benchmarks/profile_step.py [--threads 2] [--top 12] [--time TURNS]

Builds the five runs of ``speed.py``'s ``ladd`` section (MDLM DiT 64x4; ``sawtooth-coladd`` and
``sawtooth-diladd`` in stage 1 and stage 2, MM-DiT width matched to the DiT's parameters), takes
one warm-up step each, then profiles one training step under :mod:`torch.profiler` (CPU).  Every
module's forward runs inside a ``record_function("module:<name>")`` label, so each aten op is
attributed to the innermost module (collapsed to two name levels, e.g. ``backbone.blocks``);
ops under ``autograd::engine`` are ``backward``, under ``Optimizer.step`` ``optimizer``, the rest of
the step ``trainer``.  Op counts are deterministic (robust to a busy machine); self CPU times are
profiled times (inflated, for ranking only).  ``--time N`` adds ms/step: the five steps interleaved
for N turns of 5 calls (medians, spread in brackets).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from bench_utils import interleaved, md_table
from minimal_mdlm import PLUGIN
from speed import LADD_PRESETS, _params, _stepper, ladd_trainer, mdlm_trainer
from torch import nn
from torch.autograd.profiler import record_function

from ladd_core.plugins import load_plugins
from ladd_core.training.trainer import Trainer

PHASES = (("autograd::engine", "backward"), ("Optimizer.step", "optimizer"), ("Optimizer.zero_grad", "optimizer"))


@contextlib.contextmanager
def module_labels(model: nn.Module) -> Iterator[None]:
    """Run every submodule's forward inside ``record_function("module:<name>")``."""
    stack: list[Any] = []

    def pre(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _args: Any) -> None:
            rf = record_function(f"module:{name or 'model'}")
            rf.__enter__()
            stack.append(rf)

        return hook

    def post(_m: nn.Module, _args: Any, _out: Any) -> None:
        stack.pop().__exit__(None, None, None)

    handles = []
    for name, m in model.named_modules():
        handles += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _group(ev: Any) -> str:
    """The module (two name levels) or phase an op event belongs to."""
    p = ev.cpu_parent
    while p is not None:
        if p.name.startswith("module:"):
            parts = p.name.removeprefix("module:").split(".")
            return ".".join(parts[:2]) if parts[0] != "model" else "model"
        for prefix, phase in PHASES:
            if p.name.startswith(prefix):
                return phase
        p = p.cpu_parent
    return "trainer"


def _is_aten(ev: Any) -> bool:
    return ev.name.startswith("aten::")


def profile(trainer: Trainer) -> dict[str, Any]:
    """One profiled step: op counts (all aten ops, top-level ones) by group, and self CPU time by op."""
    step = _stepper(trainer)
    step()  # warm-up: k-means init, allocator, optimiser state (a stage-2 run enters stage 2 here)
    step()
    with module_labels(trainer.model), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as p:
        step()
    events = [e for e in p.events() if _is_aten(e)]
    top_level = [e for e in events if not any(_is_aten(q) for q in _ancestors(e))]
    by_group: collections.Counter[str] = collections.Counter(_group(e) for e in top_level)
    self_us: collections.Counter[str] = collections.Counter()
    for e in events:
        self_us[e.name] += e.self_cpu_time_total
    group_us: collections.Counter[str] = collections.Counter()
    for e in top_level:
        group_us[_group(e)] += e.cpu_time_total
    return {"all": len(events), "top": len(top_level), "groups": by_group, "group_us": group_us, "ops": self_us}


def _ancestors(ev: Any) -> Iterator[Any]:
    p = ev.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def build(comps: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Trainer]:
    """The five runs of ``speed.py``'s ``ladd`` section."""
    mdlm = mdlm_trainer(comps, args, "small", tmp / "mdlm")
    target = _params(mdlm.model.backbone)
    runs = {"MDLM": mdlm}
    for name, preset in LADD_PRESETS:
        for two in (False, True):
            label = f"{name.split()[0]} s{int(two) + 1}"
            runs[label] = ladd_trainer(comps, args, preset, target, tmp / f"{preset}-{int(two)}", stage2=two)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=10, help="ops / groups listed per run")
    p.add_argument("--time", type=int, default=0, metavar="TURNS", help="also time the steps (interleaved)")
    p.add_argument("--only", nargs="+", help="runs to profile (labels as printed)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.device, args.dev, args.precision, args.attention = "cpu", torch.device("cpu"), "fp32", "sdpa"
    comps = load_plugins(extra_plugins=[PLUGIN])
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(sys.stderr):
        runs = build(comps, args, Path(d))
        if args.only:
            runs = {k: v for k, v in runs.items() if k in args.only or k == "MDLM"}
        results = {name: profile(t) for name, t in runs.items()}
        times = {}
        if args.time:
            times = interleaved(
                {k: _stepper(t) for k, t in runs.items()}, calls=5, turns=args.time, warmup=2, device=args.dev
            )
    base = results["MDLM"]
    rows = []
    for name, r in results.items():
        row = [name, str(r["top"]), f"{r['top'] / base['top']:.2f}×", str(r["all"])]
        if times:
            t = times[name]
            row += [f"{t.median * 1e3:.0f} (±{t.spread:.0%})", f"{t.median / times['MDLM'].median:.2f}×"]
        groups = ", ".join(f"{g} {n}" for g, n in r["groups"].most_common(args.top))
        rows.append([*row, groups])
    header = ["run", "top-level aten ops", "× MDLM", "all aten ops"]
    header += ["ms / step", "× MDLM"] if times else []
    print(md_table([*header, "top-level ops by module / phase"], rows))
    for name, r in results.items():
        total = sum(r["ops"].values())
        print(f"\n**{name}**: self CPU {total / 1e3:.0f} ms (profiled); top ops by self CPU time\n")
        ops = [[op, f"{us / 1e3:.1f}", f"{us / total:.0%}"] for op, us in r["ops"].most_common(args.top)]
        print(md_table(["op", "self ms", "share"], ops))
        groups = [[g, str(r["groups"][g]), f"{us / 1e3:.1f}"] for g, us in r["group_us"].most_common(args.top)]
        print()
        print(md_table(["module / phase", "top-level ops", "CPU ms (incl. children)"], groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
