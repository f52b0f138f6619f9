"""Seed robustness: train presets exactly as a user does, for several seeds and widths, and score each run.

A preset is only worth shipping if it works for the seed a user happens to get.  For every
``preset x width x seed`` this trains ``ladd train PRESET --set seed=S [--set model.backbone.hidden=W]`` (nothing
else changed), evaluates the run's own sampler on a grid of token steps with the known-generator metrics
(``true-nll``, ``swd``) and the latent's health (``latent-health``), and summarises each
``preset x width`` by the mean and the *worst* seed.  Runs that already finished are reused (resume).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides, load_config_source
from ladd_core.evaluation.engine import EvalSpec, evaluate
from ladd_core.evaluation.schema import ResultSet
from ladd_core.plugins import Components
from ladd_core.progress import Progress
from ladd_core.training.factory import build_trainer

__all__ = [
    "SeedResult",
    "collect",
    "factorized_reference",
    "parse_scores",
    "per_seed_lines",
    "robustness_table",
    "run_seeds",
    "run_tag",
]

HEALTH = ("latent-gain-full", "latent-spread", "latent-code-perplexity")
SCORES = "seed-eval.json"  # the evaluation of one run, next to its checkpoints


@dataclass
class SeedResult:
    """One trained run's scores.

    Attributes:
        preset, width, seed: what was trained (``width`` ``None`` = the preset's own).
        run_dir: where.
        ratio: N -> true NLL of the samples / data entropy (1.0 = as likely as real data).
        swd: N -> sliced Wasserstein distance to held-out data.
        health: the ``latent-health`` values (``latent-gain-full`` etc.).
        train_seconds: wall time of training and scoring (small when a finished run is reused).
    """

    preset: str
    width: int | None
    seed: int
    run_dir: str
    ratio: dict[int, float] = field(default_factory=dict)
    swd: dict[int, float] = field(default_factory=dict)
    health: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0


def _overrides(seed: int, width: int | None, extra: list[str]) -> list[str]:
    out = [f"seed={seed}", *extra]
    if width is not None:
        out.append(f"model.backbone.hidden={width}")
    return out


def _score(run_dir: Path, grid: list[int], num_samples: int, components: Components, log: Callable) -> dict:
    spec = EvalSpec(steps=grid, num_samples=num_samples, seeds=[0], metrics=["true-nll", "swd", "latent-health"])
    results = evaluate([run_dir], spec, components, {}, log=log)
    results.save(run_dir / SCORES, owns=frozenset({SCORES}))
    return parse_scores(results)


def parse_scores(results: ResultSet) -> dict:
    """``{"ratio": {N: ...}, "swd": {N: ...}, "health": {...}}`` of one run's evaluation."""
    ratio, swd, health = {}, {}, {}
    for row in results.aggregates:
        if row.kind == "model":
            health = {k: v.value for k, v in row.metrics.items() if k in HEALTH}
        elif row.steps is not None:
            if "true-nll-ratio" in row.metrics:
                ratio[row.steps] = row.metrics["true-nll-ratio"].value
            if "swd" in row.metrics:
                swd[row.steps] = row.metrics["swd"].value
    return {"ratio": ratio, "swd": swd, "health": health}


def run_tag(preset: str, width: int | None, seed: int) -> str:
    """The run directory name of one ``preset x width x seed``."""
    return f"{preset}-w{width or 'preset'}-s{seed}"


def collect(presets: list[str], seeds: list[int], widths: list[int | None], out: Path) -> list[SeedResult]:
    """The results of every finished and scored run under ``out`` (runs made by several processes).

    Raises:
        ValueError: some requested runs are scored and others are not (named), or a score file is malformed.
    """
    found, missing = [], []
    for preset in presets:
        for width in widths:
            for seed in seeds:
                run_dir = out / run_tag(preset, width, seed)
                if not (run_dir / SCORES).exists():
                    missing.append(str(run_dir))
                    continue
                try:
                    scores = parse_scores(ResultSet.load(run_dir / SCORES))
                except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
                    raise ValueError(f"{run_dir / SCORES} is not a bench-seeds score file: {exc!r:.200}") from None
                found.append(SeedResult(preset, width, seed, str(run_dir), **scores))
    if found and missing:  # a partial report would pass for the full seed list
        raise ValueError(f"no scored run for {len(missing)} of the requested runs: {', '.join(missing)}")
    return found


def run_seeds(
    presets: list[str],
    seeds: list[int],
    widths: list[int | None],
    grid: list[int],
    num_samples: int,
    out: Path,
    components: Components,
    log: Callable[[str], None],
    extra: list[str] | None = None,
) -> list[SeedResult]:
    """Train and score every ``preset x width x seed``; results are also written to ``out/seeds.json``."""
    import time

    results: list[SeedResult] = []
    # plain lines, one per finished run (each run prints its own training and sampling progress in between)
    bar = Progress(len(presets) * len(widths) * len(seeds), "bench-seeds", unit="runs", interactive=False, interval=0)
    for preset in presets:
        for width in widths:
            for seed in seeds:
                tag = run_tag(preset, width, seed)
                run_dir = out / tag
                data = apply_overrides(load_config_source(preset, components), _overrides(seed, width, extra or []))
                cfg = validate_config(data, components, source=preset)
                log(f"== seeds: {tag}")
                t0 = time.perf_counter()
                build_trainer(cfg, components, run_dir, log=log).train()
                scores = _score(run_dir, grid, num_samples, components, log)
                res = SeedResult(preset, width, seed, str(run_dir), **scores, train_seconds=time.perf_counter() - t0)
                results.append(res)
                out.mkdir(parents=True, exist_ok=True)
                (out / "seeds.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
                bar.update()
    bar.close()
    return results


def factorized_reference(
    preset: str, components: Components, num_samples: int, work_dir: Path, seed: int = 0
) -> tuple[str, float]:
    """``(data name, true-NLL ratio)`` of the ideal factorized one-step sampler on ``preset``'s data.

    Each position is drawn independently from its marginal, estimated on the same held-out
    sequences the entropy is estimated on: what a perfect MDLM does at N = 1 (its one step
    samples every position given the all-mask sequence), so a model only beats it by carrying
    cross-token structure.  Scored by the same metric as the runs.
    """
    import torch
    import torch.nn.functional as F

    from ladd_core.build import build_data
    from ladd_core.components.metrics import EvalContext
    from ladd_core.evaluation.context import reference_tokens
    from ladd_core.evaluation.engine import build_metrics

    cfg = validate_config(load_config_source(preset, components), components, source=preset)
    data = build_data(cfg, components, work_dir / "data")
    context = EvalContext(data)
    metric = build_metrics(components, ["true-nll"], [])["true-nll"]
    ref, _ = reference_tokens(context, metric.config.reference_size)  # (R, L), shared with the entropy estimate
    marginals = F.one_hot(ref, data.vocab_size).to(torch.float64).mean(0)  # (L, V)
    gen = torch.Generator().manual_seed(seed)
    samples = torch.multinomial(marginals, num_samples, replacement=True, generator=gen).T.contiguous()  # (K, L)
    return data.config.name, metric.compute(samples, context)["true-nll-ratio"].value


def reference_lines(presets: list[str], components: Components, num_samples: int, work_dir: Path) -> list[str]:
    """One markdown line per dataset of ``presets``: the factorized one-step reference ratio."""
    seen: dict[str, float] = {}
    for preset in presets:
        name, ratio = factorized_reference(preset, components, num_samples, work_dir / f"reference-{preset}")
        seen.setdefault(name, ratio)
    return [
        f"Reference, `{name}`: ideal factorized one-step sampler (every position from its exact marginal, "
        f"what a perfect MDLM does at N = 1), ratio {ratio:.3f}."
        for name, ratio in seen.items()
    ]


def _fmt(values: list[float], worst: Callable[[list[float]], float]) -> str:
    if not values:
        return "–"
    return f"{statistics.fmean(values):.3f} / {worst(values):.3f}"


def robustness_table(results: list[SeedResult], grid: list[int]) -> list[str]:
    """Markdown: per ``preset x width`` and N, mean / worst seed of the true-NLL ratio and SWD, plus health."""
    groups: dict[tuple[str, int | None], list[SeedResult]] = {}
    for r in results:
        groups.setdefault((r.preset, r.width), []).append(r)
    head = "| preset | width | seeds | " + " | ".join(f"ratio N={n}" for n in grid)
    head += " | " + " | ".join(f"SWD N={n}" for n in grid) + " | gain full (min) | spread / code ppl (min) |"
    lines = [head, "|" + "---|" * (5 + 2 * len(grid))]
    for (preset, width), rs in groups.items():
        cells = [_fmt([r.ratio[n] for r in rs if n in r.ratio], max) for n in grid]
        cells += [_fmt([r.swd[n] for r in rs if n in r.swd], max) for n in grid]
        gains = [r.health["latent-gain-full"] for r in rs if "latent-gain-full" in r.health]
        spread = [r.health.get("latent-spread", r.health.get("latent-code-perplexity")) for r in rs]
        spread = [s for s in spread if s is not None]
        gain = f"{min(gains):.3f}" if gains else "–"
        sp = f"{min(spread):.3f}" if spread else "–"
        seeds = ",".join(str(r.seed) for r in rs)
        lines.append(f"| {preset} | {width or 'preset'} | {seeds} | " + " | ".join(cells) + f" | {gain} | {sp} |")
    return lines


def per_seed_lines(results: list[SeedResult], grid: list[int]) -> list[str]:
    """Markdown: one row per run (every seed shown, not only mean and worst)."""
    lines = [
        "| run | " + " | ".join(f"ratio N={n}" for n in grid) + " | gain full | spread / code ppl | seconds |",
        "|" + "---|" * (4 + len(grid)),
    ]
    for r in results:
        h = r.health
        sp = h.get("latent-spread", h.get("latent-code-perplexity"))
        cells = [f"{r.ratio[n]:.3f}" if n in r.ratio else "–" for n in grid]
        gain = f"{h['latent-gain-full']:.3f}" if "latent-gain-full" in h else "–"
        lines.append(
            f"| {Path(r.run_dir).name} | " + " | ".join(cells) + f" | {gain} | "
            f"{f'{sp:.3f}' if sp is not None else '–'} | {f'{r.train_seconds:.0f}' if r.train_seconds else '–'} |"
        )
    return lines
