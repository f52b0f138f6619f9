"""``ladd demo``: train the steps plug-ins register (``ladd_register_demo_steps``), sample at several N."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

from ladd_core.cli.config_cmds import resolve
from ladd_core.components.metrics import EvalContext
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_core.evaluation.engine import build_metrics, select_metrics
from ladd_core.evaluation.svg import line_chart_svg
from ladd_core.plugins import get_components
from ladd_core.sampling import draw_samples, sampler_config
from ladd_core.training.factory import build_trainer
from ladd_core.training.runs import load_run

__all__ = ["run_demo"]

STEP_GRID = (1, 4, 16, 64)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _entropy_bits_per_token(run, n: int = 1024) -> float | None:
    """Monte-Carlo entropy of a known generator from its validation data (bits/token)."""
    if "known_generator" not in run.data.capabilities:
        return None
    tot, count = 0.0, 0
    for batch in run.data.val_batches(256, max_batches=math.ceil(n / 256)):
        tot += float(-run.data.log_likelihood(batch.tokens).sum())
        count += batch.tokens.numel()
    return tot / count / math.log(2)


def _figure(path: Path, group: str, models: dict[str, list[tuple[int, int, float, float]]]) -> Path:
    """The group's quality-vs-NFE figure (SVG: written without matplotlib, which the quick start does not install)."""
    series = {preset: [(nfe, ratio) for _, nfe, _, ratio in cells] for preset, cells in models.items()}
    return line_chart_svg(
        path,
        series,
        title=f"ladd demo, {group}: sample quality vs network calls",
        xlabel="NFE per sample (latent steps counted)",
        ylabel="true NLL of the samples / data entropy",
        hlines={"data (1.0)": 1.0},
    )


def _side_by_side(group: str, ent: float, models: dict[str, list[tuple[int, int, float, float]]]) -> list[str]:
    """One row per N, one column block (x entropy, NFE, s/sample) per model."""
    names = list(models)
    lines = [
        f"\n{group}: true NLL of the samples / data entropy ({ent:.3f} bits/token; 1.00 = as likely as the data)",
        "   " + "".join(f"{name:>29}" for name in names),
        "  N" + f"  {'x entropy':>11} {'NFE':>5} {'s/sample':>9}" * len(names),
    ]
    by_n = {name: {c[0]: c for c in cells} for name, cells in models.items()}
    for n in STEP_GRID:
        row = f"{n:>3}"
        for name in names:
            cell = by_n[name].get(n)
            row += f"  {cell[3]:>11.2f} {cell[1]:>5} {cell[2]:>9.4f}" if cell else f"  {'-':>11} {'-':>5} {'-':>9}"
        lines.append(row)
    return lines


def run_demo(out: Path, quick: bool = False, threads: int | None = None) -> int:
    """Train every registered demo step's preset into ``out/<preset>`` (resuming), then sample and print tables.

    Steps sharing a ``group`` on known-generator data are printed side by side (true NLL / entropy, NFE, seconds
    per sample at each N) and drawn in one quality-vs-NFE figure (``out/demo-<group>-quality-vs-nfe.svg``); the
    other steps get one row per N.  ``threads`` overrides the presets' ``train.threads`` (and sampling's).
    """
    comps = get_components()
    rows: list[tuple[str, int, int, float, str]] = []
    texts: dict[str, list[str]] = {}
    groups: dict[str, dict[str, list[tuple[int, int, float, float]]]] = {}
    group_entropy: dict[str, float] = {}
    t_start = time.perf_counter()
    extra = [] if threads is None else [f"train.threads={threads}"]
    registry = comps.registry("demo_step")
    steps = sorted((registry.get(n) for n in registry.list()), key=lambda st: (st.order, st.preset))
    if not steps:
        raise ValueError("no demo steps are registered (a plug-in registers them with ladd_register_demo_steps)")
    presets = comps.registry("preset")
    for step in steps:
        preset, full, fast, n_samples = step.preset, list(step.overrides), list(step.quick), step.num_samples
        if preset not in presets:
            _say(f"demo: preset {preset!r} is not installed (its plug-in is missing or disabled); step skipped")
            continue
        if step.note:
            _say(step.note)
        run_dir = out / (preset + ("-quick" if quick else ""))
        cfg = resolve(preset, [*(fast if quick else full), *extra])
        _say(f"== training {preset} for {cfg.train.max_steps} steps into {run_dir}")
        t_train = time.perf_counter()
        val = build_trainer(cfg, comps, run_dir).train()["val_nelbo_bpt"]
        _say(f"   trained in {time.perf_counter() - t_train:.0f}s; validation NELBO {val:.3f} bits/token")
        run = load_run(run_dir, comps)
        ent = _entropy_bits_per_token(run)
        compared = bool(step.group) and ent is not None
        have = frozenset(run.data.capabilities | run.model.capabilities | {"model"})
        metrics = build_metrics(comps, select_metrics(comps, list(step.metrics), have, _say, preset), [])
        context = EvalContext(run.data, run.model)
        setting = step.setting()
        if setting:
            _say(f"   sampling at {setting}")
        for n in STEP_GRID:
            scfg = sampler_config(comps, run, steps=n, temperature=step.temperature, top_p=step.top_p)
            res = draw_samples(comps, run, scfg, num_samples=n_samples, seed=0)
            parts = []
            if ent is not None:
                nll = float(-run.data.log_likelihood(res.tokens).mean()) / res.tokens.shape[1] / math.log(2)
                parts.append(f"true NLL {nll:.3f} bits/tok = {nll / ent:.2f} x entropy")
                if compared:
                    groups.setdefault(step.group, {})[preset] = [
                        *groups.get(step.group, {}).get(preset, []),
                        (n, res.nfe, res.seconds / n_samples, nll / ent),
                    ]
                    group_entropy[step.group] = ent
            else:
                texts.setdefault(preset, []).append(f"N={n}{' ' + setting if setting else ''}: {res.texts[0][:100]!r}")
            for name, metric in metrics.items():
                try:
                    values = metric.compute(res.tokens, context)
                except MetricNotApplicable as exc:
                    parts.append(f"{name}: not applicable ({exc})")
                    continue
                refs = [f"{k} {v.value:.2f}" for k, v in values.items() if k in metric.not_compared]
                main = ", ".join(f"{k} {v.value:.2f}" for k, v in values.items() if k not in metric.not_compared)
                parts.append(main + (f" ({', '.join(refs)})" if refs else ""))
            if setting:
                parts.append(setting)
            if not compared or metrics:
                rows.append((preset, n, res.nfe, res.seconds / n_samples, ", ".join(parts)))
        if ent is not None:
            _say(f"   data entropy (Monte Carlo over validation sequences): {ent:.3f} bits/token")
    figures = []
    for group, models in groups.items():
        print("\n".join(_side_by_side(group, group_entropy[group], models)))
        name = f"demo-{group}{'-quick' if quick else ''}-quality-vs-nfe.svg"
        figures.append(_figure(out / name, group, models))
    if groups:
        print(
            "NFE counts every network call per sample, the latent denoiser's steps included; s/sample on this machine."
        )
        if quick:
            print("(--quick: a smoke run of a few training steps; the numbers mean nothing.)")
    if rows:
        print(f"\n{'preset':<18} {'N':>3} {'NFE':>4} {'s/sample':>9}  quality")
        for preset, n, nfe, sec, quality in rows:
            print(f"{preset:<18} {n:>3} {nfe:>4} {sec:>9.4f}  {quality}")
    for preset, lines in texts.items():
        print(f"\nsamples from {preset} (first 100 characters):")
        for line in lines:
            print("  " + line)
    for path in figures:
        print(f"\nfigure: {path}")
    threads_used = torch.get_num_threads()
    print(
        f"\ndemo finished in {time.perf_counter() - t_start:.0f}s (torch {torch.__version__}, "
        f"{threads_used} thread{'s' * (threads_used != 1)}). Runs are in {out}; `ladd sample RUN --steps N` draws more."
    )
    return 0
