"""Sampling a loaded run with a (possibly overridden) sampler config."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ladd_core.bounds import check_memory, check_sampling_steps
from ladd_core.build import build_sampler
from ladd_core.components.samplers import SamplerConfig
from ladd_core.conditioning import Condition, ConditionError
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import apply_overrides
from ladd_core.plugins import Components
from ladd_core.progress import Progress
from ladd_core.training.runs import LoadedRun

__all__ = ["SampleResult", "draw_samples", "sampler_config"]


@dataclass
class SampleResult:
    """Samples of a run: ``tokens (K, L)``, decoded ``texts``, NFE per batch, wall ``seconds``.

    ``latents`` are the final latent states ``(K, ...)`` (``None`` for token-only models) and
    ``info`` the sampler's numbers of the last batch, with ``calls_saved`` summed over batches.
    """

    tokens: torch.Tensor
    texts: list[str]
    nfe: int
    seconds: float
    calls_saved: int = 0
    latents: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


def sampler_config(
    components: Components,
    run: LoadedRun,
    *,
    name: str | None = None,
    steps: int | None = None,
    latent_steps: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
) -> SamplerConfig:
    """The run's sampler config with CLI-style overrides applied, validated (capabilities included).

    Raises:
        ConfigError: a bad option; an override (``--set``/``options``) of ``name`` (use the sampler argument)
            or of a field also given by its own argument with another value; steps beyond the memory bound.
    """
    named = {"steps": steps, "latent_steps": latent_steps, "temperature": temperature, "top_p": top_p}
    for item in overrides:
        key = str(item).split("=", 1)[0].strip()
        if key == "name":
            raise ConfigError([("sampler.name", "choose the sampler with --sampler / sampler=, not an option")])
        if named.get(key) is not None:
            raise ConfigError([(f"sampler.{key}", f"given twice: as its own argument and as the option {item!r}")])
    base = run.cfg.sampler.model_dump(mode="json")
    if name and name != base["name"]:
        base = {"name": name}
    options = {"steps": steps, "latent_steps": latent_steps, "temperature": temperature, "top_p": top_p}
    base.update({k: v for k, v in options.items() if v is not None})
    data = run.cfg.model_dump(mode="json")
    data["sampler"] = apply_overrides(base, list(overrides))
    cfg = validate_config(data, components, source=f"{run.run_dir} + sampler options")
    sampler = cfg.sampler
    check_sampling_steps(getattr(sampler, "steps", None), getattr(sampler, "latent_steps", None), run.model.device)
    return sampler  # type: ignore[return-value]


SEED_LIMIT = 2**63


def check_sampling_args(*, num_samples: int, batch_size: int, seeds: list[int] | tuple[int, ...] = ()) -> None:
    """Reject counts and seeds that pass as ints but cannot work (a batch of 0 would never finish).

    Raises:
        ConfigError: naming each bad option (``--num-samples``, ``--batch-size``, ``--seed``).
    """
    problems = []
    if not isinstance(num_samples, int) or num_samples < 1:
        problems.append(("--num-samples", f"must be a positive integer, got {num_samples!r}"))
    if not isinstance(batch_size, int) or batch_size < 1:
        problems.append(("--batch-size", f"must be a positive integer, got {batch_size!r}"))
    for seed in seeds:
        if not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
            problems.append(("--seed", f"must be an integer in [0, 2**63), got {seed!r}"))
    if problems:
        raise ConfigError(problems)


@torch.no_grad()
def draw_samples(
    components: Components,
    run: LoadedRun,
    config: SamplerConfig,
    *,
    num_samples: int,
    seed: int,
    batch_size: int = 64,
    condition: Condition | None = None,
) -> SampleResult:
    """Draw ``num_samples`` in batches with a float64-sampling sampler seeded by ``seed``.

    ``condition`` (:mod:`ladd_core.conditioning`) gives tokens every sample keeps: one row (broadcast
    to every batch) or ``num_samples`` rows (sample ``i`` gets row ``i``); its length must be the run's.

    Raises:
        ConfigError: ``num_samples`` or ``batch_size`` below 1, or ``seed`` outside ``[0, 2**63)``.
        ConditionError: a condition of another length or row count.
    """
    check_sampling_args(num_samples=num_samples, batch_size=batch_size, seeds=[seed])
    seq_len = run.model.seq_len  # the ids (int64) and decoded texts of every sample are kept until the end
    check_memory(16.0 * num_samples * seq_len, f"--num-samples {num_samples} x {seq_len} tokens", "--num-samples")
    if condition is not None:
        if condition.length != run.model.seq_len:
            raise ConditionError(f"the condition has length {condition.length}; the run generates {run.model.seq_len}")
        if condition.tokens.shape[0] not in (1, num_samples):
            raise ConditionError(f"a condition of {condition.tokens.shape[0]} rows for {num_samples} samples")
    sampler = build_sampler(components, config)
    gen = torch.Generator(device=run.model.device).manual_seed(seed)
    chunks, latents, nfe, saved = [], [], 0, 0
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    done = 0
    with Progress(num_samples, f"sampling {run.run_dir.name} ({config.name}, N={config.steps})", unit="samples") as bar:
        while done < num_samples:
            b = min(batch_size, num_samples - done)
            given = {} if condition is None else {"condition": condition.rows(done, done + b)}  # older samplers lack it
            out = sampler.sample(run.model, b, generator=gen, **given)
            chunks.append(out.tokens.cpu())
            latents.append(None if out.latents is None else out.latents.cpu())
            info = dict(out.info)
            nfe = max(nfe, out.nfe)
            saved += int(out.info.get("calls_saved", 0))
            done += b
            bar.update(b)
    tokens = torch.cat(chunks)
    lat = torch.cat(latents) if latents and all(x is not None for x in latents) else None  # type: ignore[arg-type]
    info["calls_saved"] = saved
    return SampleResult(tokens, run.data.decode(tokens), nfe, time.perf_counter() - t0, saved, lat, info)
