"""``ladd train``, ``ladd sample`` and ``ladd demo``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ladd_core.cli.config_cmds import resolve
from ladd_core.plugins import get_components
from ladd_core.sampling import draw_samples, sampler_config
from ladd_core.training.checkpoint import atomic_write_text
from ladd_core.training.runs import load_run
from ladd_core.training.trainer import Trainer


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("train", help="train a preset or config file; resumes if RUN_DIR holds a checkpoint")
    p.add_argument("source", help="preset name or YAML/JSON file")
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--max-steps", type=int, help="stop at this step (overrides train.max_steps)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--steps", type=int, help="token steps N (default: the run's sampler config)")
    p.add_argument("--latent-steps", type=int, help="latent steps M (samplers that have them)")
    p.add_argument("--sampler", help="sampler name (default: the run's)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="sampler fields, e.g. --set cache=false",
    )
    p.add_argument("--num-samples", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True, help="JSONL file, one sample per line")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="the quick start: train small MDLMs on the sawtooth and Shakespeare, then sample")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test, results meaningless)")
    p.set_defaults(func=cmd_demo)


def cmd_train(args: argparse.Namespace) -> int:
    comps = get_components()
    cfg = resolve(args.source, args.overrides)
    trainer = Trainer(cfg, comps, args.out)
    result = trainer.train(args.max_steps)
    if trainer.is_main:  # one summary line under torchrun
        print(json.dumps({"run_dir": str(args.out), "step": trainer.state.step, **result}))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    comps = get_components()
    run = load_run(args.run_dir, comps, device=args.device)
    scfg = sampler_config(
        comps,
        run,
        name=args.sampler,
        steps=args.steps,
        latent_steps=args.latent_steps,
        temperature=args.temperature,
        top_p=args.top_p,
        overrides=args.overrides,
    )
    result = draw_samples(comps, run, scfg, num_samples=args.num_samples, seed=args.seed, batch_size=args.batch_size)
    lines = []
    for i, (tokens, text) in enumerate(zip(result.tokens.tolist(), result.texts, strict=True)):
        rec = {
            "index": i,
            "tokens": tokens,
            "text": text,
            "nfe": result.nfe,
            "sampler": scfg.name,
            "steps": scfg.steps,
            "seed": args.seed,
            "temperature": scfg.temperature,
            "run_step": run.step,
        }
        lines.append(json.dumps(rec))
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(
        f"wrote {len(lines)} samples to {args.out} (sampler {scfg.name}, N={scfg.steps}, NFE {result.nfe} "
        f"per batch, {result.seconds:.2f}s)",
        file=sys.stderr,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ladd_core.cli.demo import run_demo

    return run_demo(args.out, quick=args.quick)
