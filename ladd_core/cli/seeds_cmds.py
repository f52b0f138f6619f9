"""``ladd bench-seeds``: do the shipped presets work for every seed? (train as a user does, score, report)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ladd_core.evaluation.bench import hardware
from ladd_core.evaluation.robustness import collect, per_seed_lines, reference_lines, robustness_table, run_seeds
from ladd_core.outputs import check_dir, check_file, output_path
from ladd_core.plugins import get_components
from ladd_core.training.checkpoint import atomic_write_text

BEGIN, END = "<!-- seeds:begin -->", "<!-- seeds:end -->"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "bench-seeds",
        help="train presets for several seeds (and widths) exactly as a user would; mean and worst seed per N",
    )
    p.add_argument("presets", nargs="+", help="preset names (`ladd list preset`)")
    p.add_argument("--seeds", default="0,1,2,3,4", help="training seeds (comma-separated)")
    p.add_argument(
        "--widths", default="preset", help="backbone widths: 'preset' (its own) and/or numbers, comma-separated"
    )
    p.add_argument("--steps", default="1,2,4", help="token-step grid N")
    p.add_argument("--num-samples", type=int, default=512, help="samples per run and N")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="extra config override for every run (then the runs are no longer 'as shipped')")  # fmt: skip
    p.add_argument("--out", type=output_path, default=Path("runs/seeds"))
    p.add_argument("--doc", type=_doc_path, default=None,
                   help="write the tables into this markdown file (section 'seeds'; '' = none)")  # fmt: skip
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: tabulate the finished runs under --out (e.g. made by several processes)",
    )
    p.set_defaults(func=cmd_bench_seeds)


def _ints(text: str, what: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not out:
        raise ValueError(f"{what}: empty")
    return out


def cmd_bench_seeds(args: argparse.Namespace) -> int:
    comps = get_components()
    for name in args.presets:
        comps.get("preset", name)  # unknown names fail before any training, listing the known ones
    seeds = _ints(args.seeds, "--seeds")
    grid = _ints(args.steps, "--steps")
    widths: list[int | None] = [None if w.strip() == "preset" else int(w) for w in args.widths.split(",")]
    check_dir(args.out, "--out")
    if args.doc:
        check_file(args.doc, "--doc", ".md")
    t0 = time.perf_counter()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.report_only:
        results = collect(args.presets, seeds, widths, args.out)
        if not results:
            raise ValueError(f"no scored runs of {args.presets} under {args.out}")
    else:
        results = run_seeds(args.presets, seeds, widths, grid, args.num_samples, args.out, comps, log, args.overrides)
    table = robustness_table(results, grid)
    refs = reference_lines(sorted({r.preset for r in results}), comps, args.num_samples, args.out)
    print("\n".join([*table, "", *refs]))
    if args.doc:
        cmd = "ladd bench-seeds " + " ".join(args.presets) + f" --seeds {args.seeds} --widths {args.widths}"
        cmd += f" --steps {args.steps} --num-samples {args.num_samples}"
        cmd += "".join(f" --set {o}" for o in args.overrides)
        body = [
            f"Command: `{cmd}`  ",
            f"Date: {datetime.now(UTC).date()}; hardware: {hardware()}"
            + ("." if args.report_only else f"; total {time.perf_counter() - t0:.0f} s."),
            "",
            "Cells: mean / worst seed. ratio = true NLL of the samples / data entropy (1.0 = as likely as real "
            "data), the run's own sampler; gain full = bits per token the all-mask token loss rises "
            "when the latent is withheld (0 = unused); spread (Gaussian) or code perplexity (codes) of the "
            "encoder's latent over held-out data (0 / 1 = collapsed).",
            "",
            *table,
            "",
            *refs,
            "",
            "Per run:",
            "",
            *per_seed_lines(results, grid),
        ]
        _write_section(args.doc, "\n".join(body))
        log(f"bench-seeds: report written to {args.doc}")
    return 0


def _doc_path(text: str) -> Path | None:
    """``--doc`` value: ``''`` means no report (``Path('')`` would be the current directory)."""
    return Path(text) if text else None


def _write_section(doc: Path, body: str) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{body}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## Seed robustness of the shipped presets\n\n{block}\n"
    atomic_write_text(doc, text)
