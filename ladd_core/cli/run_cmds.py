"""``ladd train``, ``ladd sample`` and ``ladd demo``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ladd_core.conditioning import from_infill, from_prompt
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.config.loading import apply_overrides, load_config_source
from ladd_core.outputs import check_file, check_run_out, output_path
from ladd_core.plugins import get_components
from ladd_core.sampling import check_sampling_args, draw_samples, sampler_config
from ladd_core.training.checkpoint import atomic_write_text
from ladd_core.training.factory import build_trainer
from ladd_core.training.resume_rules import source_digest
from ladd_core.training.runs import (
    CONFIG_FILE,
    check_run_dir,
    load_run,
    read_run_record,
    record_source,
    resolve_device,
)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a preset or config file; resumes if RUN_DIR holds a run (its stored config, plus any --set)",
    )
    p.add_argument("source", help="preset name or YAML/JSON file")
    p.add_argument("--out", required=True, type=output_path, help="run directory")
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
    p.add_argument("--out", type=output_path, required=True, help="JSONL file, one sample per line")
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "--prompt", metavar="TEXT", help="start every sample with TEXT (tokenised by the run); the rest is generated"
    )
    given.add_argument(
        "--infill",
        metavar="TEMPLATE",
        help="keep TEMPLATE verbatim except <mask> (one token) and <mask:N> (N tokens), which are generated; "
        "a shorter template leaves the tail to generate",
    )
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="the quick start: MDLM next to LADD on the sawtooth, then an MDLM on Shakespeare")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--quick", action="store_true", help="a much shorter run (smoke test, results meaningless)")
    p.set_defaults(func=cmd_demo)


def train_config(source: str, overrides: list[str], out: Path, comps: Any) -> ExperimentConfig:
    """The config to train: on an existing run made from ``source``, its stored config plus ``overrides``.

    When ``source`` (preset or file, unchanged since) is the one the run was made from, the
    stored config is the base, so a bare ``ladd train PRESET --out RUN`` resumes as it was
    started.  Otherwise ``source`` is resolved afresh; either way the trainer accepts only
    changes that are safe on resume and names every other one.
    """
    record = read_run_record(out)
    raw = load_config_source(source, comps)
    if record is not None:
        stored = record.get("source")
        same = stored == {"name": source, "digest": source_digest(raw)} if isinstance(stored, dict) else None
        if same is None:  # a run from before sources were recorded: the preset name is the config name
            same = record["config"].get("name") == source and not Path(source).suffix
        if same:
            return validate_config(apply_overrides(record["config"], overrides), comps, source=f"{out}/{CONFIG_FILE}")
    return validate_config(apply_overrides(raw, overrides), comps, source=source)


def cmd_train(args: argparse.Namespace) -> int:
    if args.max_steps is not None and args.max_steps < 0:
        raise ConfigError([("--max-steps", f"must be >= 0, got {args.max_steps}")])
    t0 = time.monotonic()
    check_run_out(args.out)
    comps = get_components()
    cfg = train_config(args.source, args.overrides, args.out, comps)
    trainer = build_trainer(cfg, comps, args.out)
    if trainer.is_main:  # under the trainer's lock
        digest = source_digest(load_config_source(args.source, comps))
        record_source(args.out, {"name": args.source, "digest": digest})
    result = trainer.train(args.max_steps)
    if trainer.is_main:  # one summary line under torchrun
        # wall_s: this command from start to end (data preparation, building and evaluations included)
        wall = round(time.monotonic() - t0, 1)
        print(json.dumps({"run_dir": str(args.out), "step": trainer.state.step, **result, "wall_s": wall}))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    check_sampling_args(num_samples=args.num_samples, batch_size=args.batch_size, seeds=[args.seed])
    resolve_device(args.device, "--device")
    check_file(args.out, "--out", ".jsonl")
    comps = get_components()
    check_run_dir(args.run_dir)
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
    condition = None
    if args.prompt is not None:
        condition = from_prompt(run.data, args.prompt, run.model.seq_len)
    elif args.infill is not None:
        condition = from_infill(run.data, args.infill, run.model.seq_len)
    result = draw_samples(
        comps, run, scfg, num_samples=args.num_samples, seed=args.seed, batch_size=args.batch_size, condition=condition
    )
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
        if condition is not None:
            rec["given"] = int(condition.visible.sum())  # tokens given by --prompt / --infill, unchanged
            rec["prompt" if args.prompt is not None else "infill"] = args.prompt or args.infill
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
