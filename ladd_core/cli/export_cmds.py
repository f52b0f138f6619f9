"""``ladd export``: a self-contained model directory that ``ladd sample`` and ``ladd.load`` accept elsewhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ladd_core.export import export_run
from ladd_core.outputs import output_path
from ladd_core.plugins import get_components
from ladd_core.training.runs import check_run_dir

__all__ = ["add_parsers", "cmd_export"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a portable model directory (config, weights, tokenizer, model card) from a trained run",
        description="Copy the newest valid checkpoint's sampling weights (EMA by default) with the config, "
        "the plug-ins that provide each component, the tokenizer files and a README model card into DIR.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("out", type=output_path, metavar="DIR", help="new (or empty) directory")
    p.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA weights")
    p.add_argument(
        "--results",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="`ladd eval` result files whose rows for this run go into the model card",
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    check_run_dir(args.run_dir)
    for f in args.results:
        if not f.is_file():
            raise FileNotFoundError(f"--results file {f} not found")
    comps = get_components()
    out = export_run(args.run_dir, args.out, comps, use_ema=not args.raw, results=args.results)
    print(f"exported {args.run_dir} to {out} (sample it with `ladd sample {out} ...`)", file=sys.stderr)
    return 0
