"""``ladd bench``: presets compared at matched backbone size and token budget, evaluated on a step grid.

What runs comes from plug-ins: each registers a :class:`~ladd_core.evaluation.plan.BenchPlan` per dataset
(``ladd_register_bench_plans``).  The presets of a plan are trained with the same steps x batch x length
(stage boundaries scaled with the budget); the backbone width of every preset after the first is chosen
so that its backbone parameter count is the closest to the first one's.  Every run is then evaluated with
every compatible sampler of the plan on its step grid, and the tables, plots and costs are written.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ladd_core.build import build_data, build_model
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides, load_config_source
from ladd_core.evaluation.plan import BenchBudget, BenchPlan
from ladd_core.plugins import Components
from ladd_core.progress import Progress
from ladd_core.training.factory import build_trainer

__all__ = ["BenchBudget", "BenchPlan", "backbone_params", "match_backbone", "plans_for", "train_all"]


def plans_for(datasets: list[str] | None, components: Components) -> dict[str, BenchPlan]:
    """The registered plans of ``datasets`` (all registered plans when ``None``), in the order given.

    Raises:
        UnknownComponentError: a dataset has no registered plan (the message lists those that do).
    """
    registry = components.registry("bench_plan")
    names = registry.list() if datasets is None else datasets
    return {name: registry.get(name) for name in names}


def backbone_params(cfg_data: dict[str, Any], components: Components, vocab_size: int, seq_len: int) -> int:
    """Parameters of the joint backbone that ``cfg_data`` describes (the latent denoiser and encoder excluded)."""
    cfg = validate_config(cfg_data, components)
    model = build_model(cfg, components, vocab_size=vocab_size, seq_len=seq_len)
    return sum(p.numel() for p in model.backbone.parameters())


def match_backbone(
    cfg_data: dict[str, Any], target: int, components: Components, vocab_size: int, seq_len: int
) -> tuple[dict[str, Any], int]:
    """``cfg_data`` with ``model.backbone.hidden`` set so its backbone is closest to ``target`` parameters."""
    heads = cfg_data["model"]["backbone"].get("heads", 4)
    best: tuple[int, dict[str, Any], int] | None = None
    for hidden in range(2 * heads, 513, 2 * heads):
        trial = copy.deepcopy(cfg_data)
        trial["model"]["backbone"]["hidden"] = hidden
        try:
            n = backbone_params(trial, components, vocab_size, seq_len)
        except ConfigError:  # a width the backbone's config does not accept (e.g. below its minimum)
            continue
        if best is None or abs(n - target) < best[0]:
            best = (abs(n - target), trial, n)
        if n > target * 1.5:
            break
    if best is None:
        raise ConfigError([("model.backbone.hidden", "no width in 2*heads..512 is valid for this backbone")])
    return best[1], best[2]


def _scaled_stages(data: dict[str, Any], steps: int) -> list[int]:
    old_max = data.get("train", {}).get("max_steps", steps) or steps
    return [round(s * steps / old_max) for s in data.get("train", {}).get("stages", [0])]


def _ms_per_step(run_dir: Path) -> float | None:
    """Median training wall time per step from the logged tokens/s (first log line excluded: warm-up)."""
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    cfg = json.loads((run_dir / "config.json").read_text())["config"]
    tokens_per_step = cfg["train"]["batch_size"] * cfg["data"]["seq_len"]
    rates = [r["tokens_per_s"] for r in lines if "tokens_per_s" in r][1:]
    return 1000 * tokens_per_step / statistics.median(rates) if rates else None


def train_all(
    plans: dict[str, BenchPlan], quick: bool, components: Components, out: Path, log: Any
) -> tuple[dict[str, list[Path]], list[dict[str, Any]]]:
    """Train every installed preset of every plan at its budget; returns run dirs per dataset and a cost table."""
    runs: dict[str, list[Path]] = {}
    costs: list[dict[str, Any]] = []
    presets = components.registry("preset")
    n_runs = sum(1 for plan in plans.values() for name in plan.presets if name in presets)
    # plain lines (a line per finished run): the trainers print their own step lines in between
    bar = Progress(n_runs, "bench: training", unit="runs", interactive=False, interval=0)
    for ds, plan in plans.items():
        budget = plan.budget(quick)
        runs[ds] = []
        target = None
        base_ms = None
        for name in plan.presets:
            if name not in presets:
                log(f"bench: preset {name!r} is not installed; skipped")
                continue
            steps = budget.steps
            data = apply_overrides(load_config_source(name, components), list(budget.overrides))
            data = apply_overrides(data, [f"train.max_steps={steps}", "train.eval_every=0"])
            data["train"]["stages"] = _scaled_stages(load_config_source(name, components), steps)
            run_dir = out / name
            src = build_data(validate_config(data, components), components, run_dir / "data")
            vocab, seq_len = src.vocab_size, src.seq_len
            try:
                if target is None:
                    target = backbone_params(data, components, vocab, seq_len)
                    n_params = target
                else:
                    data, n_params = match_backbone(data, target, components, vocab, seq_len)
            except ImportError as exc:  # an optional dependency of the preset (e.g. a pretrained encoder)
                log(f"bench: preset {name!r} skipped: {exc}")
                bar.update()
                continue
            cfg = validate_config(data, components, source=name)
            log(f"== bench: training {name} ({n_params:,} backbone parameters, {steps} steps) into {run_dir}")
            t0 = time.perf_counter()
            trainer = build_trainer(cfg, components, run_dir, log=log)
            trainer.train()
            ms = _ms_per_step(run_dir)
            base_ms = base_ms or ms
            total = sum(p.numel() for p in trainer.model.parameters())
            costs.append(
                {
                    "run": name,
                    "backbone_params": n_params,
                    "total_trainable_params": total,
                    "steps": steps,
                    "tokens": steps * cfg.train.batch_size * cfg.data.seq_len,
                    "ms_per_step": ms,
                    "ratio_to_reference": (ms / base_ms) if ms and base_ms else None,
                    "train_seconds": time.perf_counter() - t0,
                }
            )
            runs[ds].append(run_dir)
            bar.update()
    bar.close()
    return runs, costs


def hardware() -> str:
    """One line describing the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    try:
        ladd_version = importlib.metadata.version("ladd")
    except importlib.metadata.PackageNotFoundError:
        ladd_version = "not installed"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"python {platform.python_version()}, ladd {ladd_version}, {platform.system()} {platform.release()}"
    )
