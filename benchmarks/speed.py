"""Speed benchmark: framework overhead, LADD cost per step, MFU, sampling overhead, peak memory.

Usage::

    python benchmarks/speed.py [--quick] [--threads 2] [--device cpu|cuda] [--precision fp32|bf16]
                               [--attention sdpa|xformers] [--doc docs/notes/benchmark-history.md | --no-doc]

Prints markdown tables and writes them into ``docs/notes/benchmark-history.md`` between the speed markers.
Variants compared with each other run interleaved in one process (medians over turns).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_utils import (
    PeakRSS,
    count_cpu_attention_flops,
    hardware,
    interleaved,
    matmul_peak,
    md_table,
    rss_mib,
    sync,
    write_section,
)
from contention import HEADER as CONTENTION_HEADER
from contention import contention_rows
from minimal_mdlm import PLUGIN, MinimalMDLM
from sampling_speed import HEADER as SAMPLING_HEADER
from sampling_speed import PRESETS as SAMPLING_PRESETS
from sampling_speed import sampling_rows
from torch.utils.flop_counter import FlopCounterMode

from ladd_core.config.experiment import validate_config
from ladd_core.plugins import Components, load_plugins
from ladd_core.training.factory import build_trainer
from ladd_core.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
TITLES = {
    "overhead": "Training throughput: framework vs hand-written loop (same network)",
    "ladd": "Cost per step of latent channels vs MDLM (matched backbone parameters)",
    "mfu": "Model FLOP utilisation (framework step)",
    "sampling": "Sampling, every sampler: wall time vs NFE × one call of each network (cache off)",
    "contention": "Training next to one competing process: `train.threads` auto vs fixed, per preset",
    "memory": "Peak memory",
}
SECTIONS = list(TITLES)
QUIET = {"log_every": 1_000_000, "checkpoint_every": 1_000_000, "eval_every": 0, "ema": 0.99}
MDLM = {"name": "dit", "layers": 4, "heads": 4, "cond_dim": 32}
SIZES: dict[str, dict[str, Any]] = {  # the reference yardsticks (shared/reference/baselines.md)
    "small": {"hidden": 64, "layers": 4, "data": {"name": "sawtooth", "seq_len": 128}, "batch": 64},
    "medium": {
        "hidden": 256,
        "layers": 6,
        "data": {"name": "bench-tokens", "seq_len": 256, "vocab": 256},
        "batch": 16,
    },
}


def _config(
    comps: Components, args: argparse.Namespace, preset: str, model: dict, data: dict, batch: int, stage2: bool = False
) -> Any:
    cfg = copy.deepcopy(comps.get("preset", preset))
    cfg.pop("description", None)
    cfg["model"]["backbone"] = {**cfg["model"]["backbone"], **model, "attention": {"name": args.attention}}
    cfg["data"] = data
    cfg["train"] = {
        **cfg["train"],
        **QUIET,
        "batch_size": batch,
        "threads": args.threads,
        "device": args.device,
        "precision": args.precision,
    }
    if stage2:  # stage 2 from step 1: the first (untimed) step is stage 1, every timed step a stage-2 step
        cfg["train"]["stages"] = [0, 1]
    return validate_config(cfg, comps)


def mdlm_trainer(comps: Components, args: argparse.Namespace, size: str, tmp: Path) -> Trainer:
    s = SIZES[size]
    model = {**MDLM, "hidden": s["hidden"], "layers": s["layers"], "cond_dim": max(32, s["hidden"] // 2)}
    return build_trainer(_config(comps, args, "sawtooth-mdlm", model, s["data"], s["batch"]), comps, tmp, log=print)


def ladd_trainer(
    comps: Components, args: argparse.Namespace, preset: str, target: int, tmp: Path, stage2: bool = False
) -> Trainer:
    """A small-size LADD run whose MM-DiT has about ``target`` parameters (matched to the MDLM DiT)."""
    s = SIZES["small"]
    probe = build_trainer(_config(comps, args, preset, {}, s["data"], s["batch"]), comps, tmp / "probe", log=print)
    spec, mmdit = probe.model.backbone.spec, type(probe.model.backbone)
    base = probe.cfg.model.backbone.model_dump()

    def count(h: int) -> int:
        cfg = mmdit.Config.model_validate({**base, "hidden": h, "attention": {"name": "sdpa"}})
        return sum(p.numel() for p in mmdit(cfg, spec).parameters())

    hidden = min(range(8, 257, 8), key=lambda h: abs(count(h) - target))
    cfg = _config(comps, args, preset, {"hidden": hidden}, s["data"], s["batch"], stage2=stage2)
    return build_trainer(cfg, comps, tmp, log=print)


_T0 = time.perf_counter()
LADD_PRESETS = (("Co-LADD (gaussian)", "sawtooth-coladd"), ("Di-LADD (vq)", "sawtooth-diladd"))


def progress(msg: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.__stderr__, flush=True)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _params(m: torch.nn.Module | None) -> int:
    return 0 if m is None else sum(p.numel() for p in m.parameters())


def _stepper(trainer: Trainer) -> Any:
    batches = trainer._batches()
    return lambda: trainer.train_step(next(batches))


def _hand_stepper(trainer: Trainer, bf16: bool) -> Any:
    net = copy.deepcopy(trainer.model.backbone)
    hand = MinimalMDLM(net, trainer.model.process.mask_id, bf16=bf16)
    batches = trainer.data.train_batches(trainer.cfg.train.batch_size, 1)

    def step() -> None:
        b = next(batches)
        hand.step(b.tokens.to(trainer.device), b.attention_mask.to(trainer.device))

    return step


def _flops_per_step(trainer: Trainer) -> float:
    count_cpu_attention_flops()
    batch = next(trainer._batches())
    with FlopCounterMode(display=False) as fc:
        trainer.train_step(batch)
    return float(fc.get_total_flops())


# ----------------------------------------------------------------------------- sections


def overhead_and_mfu(comps: Components, args: argparse.Namespace, tmp: Path, budget: dict) -> tuple[str, str]:
    rows, mfu_rows = [], []
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    peak = matmul_peak(args.dev, dtype, 8192 if args.dev.type == "cuda" else 2048)
    for size in SIZES:
        progress(f"overhead: MDLM {size}")
        trainer = mdlm_trainer(comps, args, size, tmp / f"mdlm-{size}")
        tokens = trainer.cfg.train.batch_size * trainer.data.seq_len
        calls = budget["calls"][size]
        times = interleaved(
            {"framework": _stepper(trainer), "hand": _hand_stepper(trainer, args.precision == "bf16")},
            calls=calls,
            turns=budget["turns"],
            warmup=budget["warmup"],
            device=args.dev,
        )
        fw, hand = times["framework"], times["hand"]
        over = fw.median / hand.median - 1
        rows.append(
            [
                f"MDLM {size}: DiT {SIZES[size]['hidden']}x{SIZES[size]['layers']}, L={trainer.data.seq_len}, "
                f"B={trainer.cfg.train.batch_size}, V={trainer.data.vocab_size}",
                f"{_params(trainer.model):,}",
                f"{tokens / fw.median:,.0f} (±{fw.spread:.0%})",
                f"{tokens / hand.median:,.0f} (±{hand.spread:.0%})",
                f"{over:+.1%}",
                "yes" if over <= 0.03 else "**no**",
            ]
        )
        progress(f"flops: MDLM {size}")
        flops = _flops_per_step(trainer)
        achieved = flops / fw.median
        mfu_rows.append(
            [
                f"MDLM {size}",
                f"{flops / 1e9:.2f}",
                f"{achieved / 1e9:.1f}",
                f"{peak / 1e9:.1f}",
                f"{achieved / peak:.1%}",
            ]
        )
    t1 = md_table(
        ["model", "params", "framework tok/s", "hand-written tok/s", "framework overhead", "≤ 3 %"],
        rows,
    )
    t2 = md_table(
        ["model", "GFLOP / step (fwd+bwd)", "achieved GFLOP/s", f"{_name(dtype)} matmul peak GFLOP/s (best)", "MFU"],
        mfu_rows,
    )
    return t1, t2


def ladd_cost(comps: Components, args: argparse.Namespace, tmp: Path, budget: dict) -> str:
    progress("LADD cost per step")
    mdlm = mdlm_trainer(comps, args, "small", tmp / "ladd-mdlm")
    target = _params(mdlm.model.backbone)
    trainers: dict[str, Trainer] = {"MDLM": mdlm}
    failures: list[list[str]] = []
    variants = [(f"{n}{' stage 2' if two else ''}", p, two) for n, p in LADD_PRESETS for two in (False, True)]
    for name, preset, two in variants:
        try:
            trainers[name] = ladd_trainer(comps, args, preset, target, tmp / f"{preset}-{int(two) + 1}", stage2=two)
            _stepper(trainers[name])()  # fails here if the channel is unfinished
        except Exception as exc:  # report, do not hide: the channels are being finished by others
            trainers.pop(name, None)
            failures.append([name, "–", "–", "–", f"unavailable: {type(exc).__name__}: {str(exc)[:120]}", "–"])
    times = interleaved(
        {k: _stepper(t) for k, t in trainers.items()},
        calls=budget["calls"]["small"],
        turns=budget["turns"],
        warmup=budget["warmup"],
        device=args.dev,
    )
    base = times["MDLM"].median
    flops = {name: _flops_per_step(t) for name, t in trainers.items()}
    rows = []
    for name, t in trainers.items():
        ratio = times[name].median / base
        net = t.model.backbone
        rows.append(
            [
                f"{name}: {t.cfg.model.backbone.name} {net.config.hidden}x{net.config.layers}",
                f"{_params(net):,}",
                f"{_params(t.model):,}",
                f"{flops[name] / 1e9:.1f} ({flops[name] / flops['MDLM']:.2f}×)",
                f"{times[name].median * 1e3:.0f} (±{times[name].spread:.0%})",
                f"{ratio:.2f}×",
                "–" if name == "MDLM" else ("yes" if ratio <= 1.15 else "**no**"),
            ]
        )
    header = ["model (sawtooth, L=128, B=64; stage 1 unless stated)", "backbone params", "all params", "GFLOP / step"]
    return md_table([*header, "ms / step", "× MDLM", "≤ 1.15× (#16)"], rows + [[*r[:3], "–", *r[3:]] for r in failures])


def contention(comps: Components, args: argparse.Namespace, tmp: Path, budget: dict) -> str:
    """Each preset's stage-1 step alone and next to one competitor (:mod:`contention`)."""
    mdlm = mdlm_trainer(comps, args, "small", tmp / "busy-mdlm")
    target = _params(mdlm.model.backbone)
    trainers = {"MDLM": mdlm}
    for name, preset in LADD_PRESETS:
        trainers[name] = ladd_trainer(comps, args, preset, target, tmp / f"busy-{preset}")
    steppers = {name: _stepper(t) for name, t in trainers.items()}
    rows = contention_rows(
        steppers, steps=budget["calls"]["small"], turns=budget["turns"], warmup=budget["warmup"], log=progress
    )
    return md_table(CONTENTION_HEADER, rows)


def sampling(comps: Components, args: argparse.Namespace, tmp: Path, budget: dict) -> str:
    """Every registered sampler vs NFE × one call of each network (:mod:`sampling_speed`)."""
    rows = sampling_rows(
        comps,
        steps=budget["sample_steps"],
        batches=budget["sample_batches"],
        turns=budget["sample_turns"],
        device=args.dev,
        presets=SAMPLING_PRESETS,
        log=progress,
    )
    return md_table(SAMPLING_HEADER, rows)


def probe_memory(comps: Components, args: argparse.Namespace, name: str) -> dict[str, float]:
    """Build one run, take 3 steps; peak memory above what the built run holds (called in a fresh process)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if name.startswith("mdlm-"):
            trainer = mdlm_trainer(comps, args, name.split("-", 1)[1], tmp)
        else:
            target = _params(mdlm_trainer(comps, args, "small", tmp / "m").model.backbone)
            preset = {"coladd": "sawtooth-coladd", "diladd": "sawtooth-diladd"}[name]
            trainer = ladd_trainer(comps, args, preset, target, tmp / "l")
        step = _stepper(trainer)
        if args.dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(args.dev)
            base = torch.cuda.memory_allocated(args.dev) / 2**20
            for _ in range(3):
                step()
            sync(args.dev)
            peak = torch.cuda.max_memory_allocated(args.dev) / 2**20
        else:
            base = rss_mib()
            with PeakRSS() as rss:
                for _ in range(3):
                    step()
            peak = rss.peak_mib
    return {"base_mib": base, "peak_mib": peak}


def memory(args: argparse.Namespace) -> str:
    rows = []
    kind = "allocated (CUDA)" if args.dev.type == "cuda" else "RSS"
    for name in ("mdlm-small", "mdlm-medium", "coladd", "diladd"):
        progress(f"memory: {name}")
        cmd = [sys.executable, __file__, "--probe", name, *args.passthrough]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        try:
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append([name, f"{r['peak_mib']:.0f}", f"{r['peak_mib'] - r['base_mib']:.0f}"])
        except (IndexError, json.JSONDecodeError, KeyError):
            rows.append([name, "unavailable", res.stderr.strip().splitlines()[-1][:120] if res.stderr else "?"])
    return md_table(["run (3 training steps)", f"peak {kind}, MiB", "above the built run, MiB"], rows)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short budget (a few minutes on 2 cores)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--attention", default="sdpa", help="attention backend of every backbone")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "notes" / "benchmark-history.md")
    p.add_argument("--no-doc", action="store_true", help="print only")
    p.add_argument("--note", default="", help="a line added to the report (e.g. 'shared machine')")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="sections to run")
    p.add_argument("--probe", help=argparse.SUPPRESS)
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # one call of everything (tests)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.dev = torch.device(args.device)
    args.passthrough = ["--threads", str(args.threads), "--device", args.device, "--precision", args.precision]
    args.passthrough += ["--attention", args.attention]
    comps = load_plugins(extra_plugins=[PLUGIN])
    if args.probe:
        print(json.dumps(probe_memory(comps, args, args.probe)))
        return 0
    budget = {
        "turns": 3 if args.quick else 7,
        "warmup": 2 if args.quick else 5,
        "calls": {"small": 5, "medium": 2} if args.quick else {"small": 20, "medium": 6},
        "sample_steps": [16, 64] if args.quick else [16, 64, 256],
        "sample_batches": [4] if args.quick else [4, 64],
        # the in-chain sampling overhead is a median of per-turn ratios held to a 5 % bar, with about a point of
        # turn-to-turn spread on a shared machine: five turns keep one or two disturbed turns out of the median
        "sample_turns": 5 if args.quick else 7,
    }
    if args.smoke:
        budget.update(
            turns=1, warmup=0, calls={"small": 1, "medium": 1}, sample_steps=[4], sample_batches=[2], sample_turns=1
        )
    info = hardware(args.dev)
    tables: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(sys.stderr):
        tmp = Path(d)
        if "overhead" in args.only or "mfu" in args.only:
            tables["overhead"], tables["mfu"] = overhead_and_mfu(comps, args, tmp, budget)
        if "ladd" in args.only:
            tables["ladd"] = ladd_cost(comps, args, tmp, budget)
        if "sampling" in args.only:
            tables["sampling"] = sampling(comps, args, tmp, budget)
        if "contention" in args.only and args.device == "cpu":
            tables["contention"] = contention(comps, args, tmp, budget)
        if "memory" in args.only:
            tables["memory"] = memory(args)
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.1f}"
    shown = list(argv if argv is not None else sys.argv[1:])
    if "--note" in shown:  # the note is printed below, not repeated in the command
        i = shown.index("--note")
        shown[i : i + 2] = ['--note "..."']
    cmd = "python benchmarks/speed.py " + " ".join(shown)
    setup = f"precision {args.precision}, attention `{args.attention}`, device {args.device}"
    lines = [f"Command: `{cmd.strip()}` ({setup}).", ""]
    lines += [", ".join(f"{k}: {v}" for k, v in info.items()) + "."]
    if args.note:
        lines += ["", f"**Note:** {args.note}"]
    body = "\n".join(lines)
    for key, title in TITLES.items():
        if key in tables and key in args.only:
            body += f"\n\n### {title}\n\n{tables[key]}"
    body += "\n"
    print(body)
    if not args.no_doc:
        write_section(args.doc, body)
        print(f"\nwritten to {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
