"""The evaluation engine: runs x seeds x samplers x temperatures x token steps, scored by matching metrics.

No component is chosen by name here: a metric runs when its ``requires`` are all among the
run's data capabilities, the model's capabilities, ``"model"``, and the resources of this evaluation (``"judge"``,
``"zero_shot"``); a sampler runs when its ``requires`` are among the model's capabilities.
Anything skipped is logged as a notice and stored in the results, never silently dropped.
With ``prompt_len`` every sample continues its own held-out prompt (the resource ``"prompt"``, with the
condition in ``context.prompt``).  A :class:`~ladd_core.components.metrics.ModelMetric` is scored once per
run and seed, in a ``"model"`` row, a :class:`~ladd_core.components.metrics.SampleMetric` once per cell;
the class attribute ``not_compared`` (value names never ranked) is honoured.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

import ladd_core
from ladd_core.bounds import check_sampling_steps
from ladd_core.build import build_component, build_sampler
from ladd_core.capability import Capability
from ladd_core.components.metrics import EvalContext, Metric, MetricValue, ModelMetric, SampleMetric
from ladd_core.conditioning import Condition, ConditionError
from ladd_core.config.errors import ConfigError, format_validation_error
from ladd_core.config.loading import apply_overrides
from ladd_core.evaluation.aggregate import aggregate
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_core.evaluation.schema import ResultRow, ResultSet
from ladd_core.plugins import Components
from ladd_core.progress import Progress
from ladd_core.sampling import check_sampling_args, draw_samples, sampler_config
from ladd_core.training.runs import LoadedRun, config_hash, load_run, resolve_device
from ladd_core.training.threads import ThreadGovernor

__all__ = ["EvalSpec", "Resource", "build_metrics", "evaluate", "select_metrics"]

Log = Callable[[str], None]


def _stderr_log(msg: str) -> None:
    print(f"notice: {msg}", file=sys.stderr)


@dataclass
class Resource:
    """A named thing metrics may require, loaded on first use and shared by all runs.

    Attributes:
        available: whether it can be provided at all (decides metric selection).
        load: builds it (called at most once).
        description: stored with the results.
    """

    available: bool
    load: Callable[[], Any]
    description: str = ""
    _value: Any = field(default=None, init=False, repr=False)
    _loaded: bool = field(default=False, init=False, repr=False)

    @property
    def loaded(self) -> bool:
        return self._loaded

    def get(self) -> Any:
        """The resource, loaded on first call."""
        if not self._loaded:
            self._value, self._loaded = self.load(), True
        return self._value


@dataclass
class EvalSpec:
    """What to evaluate (``None`` means the run's own sampler setting).

    Attributes:
        steps: token-step grid N.
        latent_steps: M, for samplers that have latent steps (others ignore it with a notice).
        samplers: sampler names.
        temperatures: temperature sweep.
        num_samples: samples per cell and seed (all of them are scored).
        seeds: sampling seeds.
        metrics: metric names (``None``: every registered metric whose requirements are met).
        metric_overrides: ``NAME.FIELD=VALUE`` settings of metric configs.
        batch_size: sampling batch size.
        device: torch device of the models.
        prompt_len: ``K`` for the conditional task: sample ``i`` continues the first ``K`` tokens of
            held-out sequence ``i`` (deterministic); ``None`` samples unconditionally.  Metrics that
            require ``"prompt"`` run only then.
    """

    steps: list[int] | None = None
    latent_steps: int | None = None
    samplers: list[str] | None = None
    temperatures: list[float] | None = None
    num_samples: int = 64
    seeds: list[int] = field(default_factory=lambda: [0])
    metrics: list[str] | None = None
    metric_overrides: list[str] = field(default_factory=list)
    batch_size: int = 64
    device: str = "cpu"
    prompt_len: int | None = None

    def check(self) -> None:
        """Reject values that cannot work before any run is loaded or sampled.

        Raises:
            ConfigError: naming each bad option.
        """
        check_sampling_args(num_samples=self.num_samples, batch_size=self.batch_size, seeds=list(self.seeds))
        problems = [("--steps", f"must be positive, got {n}") for n in self.steps or [] if n < 1]
        if self.latent_steps is not None and self.latent_steps < 1:
            problems.append(("--latent-steps", f"must be positive, got {self.latent_steps}"))
        problems += [
            ("--temperatures", f"must be positive and finite, got {t}")
            for t in self.temperatures or []
            if not 0 < t < float("inf")
        ]
        if not self.seeds:
            problems.append(("--seeds", "empty list"))
        twice = sorted({s for s in self.seeds if list(self.seeds).count(s) > 1}, key=str)
        if twice:  # a repeated seed would count the same samples twice (and shrink the standard error)
            problems.append(("--seeds", f"seed(s) {twice} given more than once"))
        if self.prompt_len is not None and self.prompt_len < 1:
            problems.append(("--prompt-len", f"must be positive, got {self.prompt_len}"))
        if problems:
            raise ConfigError(problems)
        dev = resolve_device(self.device, "--device")
        check_sampling_steps(max(self.steps or [1]), self.latent_steps, dev)


def build_metrics(components: Components, names: list[str], overrides: list[str]) -> dict[str, Metric]:
    """Metric instances by name, their configs validated with ``NAME.FIELD=VALUE`` overrides applied."""

    data = apply_overrides({n: {"name": n} for n in names}, overrides)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError([(f"--metric-option {u}", f"metric {u!r} is not evaluated") for u in unknown])
    out = {}
    for n in names:
        cls = components.get("metric", n)
        try:
            cfg = cls.Config.model_validate(data[n])
        except ValidationError as exc:
            raise format_validation_error(exc, data[n], source=f"metric {n}") from None
        metric = build_component(components, "metric", cfg)
        if not isinstance(metric, SampleMetric | ModelMetric):
            raise TypeError(f"metric {n!r} ({type(metric).__name__}) must derive from SampleMetric or ModelMetric")
        out[n] = metric
    return out


def select_metrics(
    components: Components, wanted: list[str] | None, available: frozenset[str], log: Log, where: str
) -> list[str]:
    """The metrics to run: ``wanted`` (or every registered one with ``default`` set) whose ``requires`` are met;
    the rest are logged."""
    reg = components.registry("metric")
    names = list(wanted) if wanted is not None else [n for n in reg.list() if reg.get(n).default]
    keep = []
    for n in names:
        missing = reg.get(n).requires - available
        if missing:
            need, have = sorted(map(str, missing)), sorted(map(str, available))  # StrEnum members print as names
            log(f"{where}: metric {n!r} skipped: needs {need} (available: {have})")
            continue
        keep.append(n)
    return keep


class _RunEval:
    """Evaluation of one loaded run."""

    def __init__(
        self,
        run: LoadedRun,
        metrics: dict[str, Metric],
        resources: dict[str, Resource],
        log: Log,
        threads: ThreadGovernor | None = None,
    ) -> None:
        self.run, self.metrics, self.resources, self.log, self.threads = run, metrics, resources, log, threads
        self.ctx = EvalContext(run.data, run.model)
        self.skipped: set[str] = set()
        caps = run.model.capabilities
        dtype = next(run.model.parameters()).dtype
        self.base: dict[str, Any] = {
            "run": str(run.run_dir),
            "model": run.cfg.name,
            "config_hash": config_hash(run.cfg),
            "run_step": run.step,
            "latent": run.cfg.model.latent.name,
            "latent_model": Capability.NO_LATENT not in caps,
            "precision": f"weights {str(dtype).removeprefix('torch.')}, sampling float64",
        }

    def _provide(self, metric: Metric) -> None:
        """Load the resources ``metric`` requires into the context (each on first use)."""
        if "judge" in metric.requires and "judge" in self.resources:
            self.ctx.judge = self.resources["judge"].get()
        if "zero_shot" in metric.requires and "zero_shot" in self.resources:
            self.ctx.zero_shot = self.resources["zero_shot"].get()

    def score(self, samples: torch.Tensor | None) -> tuple[dict[str, MetricValue], float]:
        """The sample metrics on ``samples (N, L)``, or the model metrics when ``samples`` is ``None``."""
        t0 = time.perf_counter()
        out: dict[str, MetricValue] = {}
        for name, metric in self.metrics.items():
            if isinstance(metric, ModelMetric) != (samples is None):
                continue
            self._provide(metric)
            try:
                if isinstance(metric, ModelMetric):
                    out.update(metric.compute(self.ctx))
                else:
                    assert isinstance(metric, SampleMetric) and samples is not None
                    out.update(metric.compute(samples, self.ctx))
            except MetricNotApplicable as exc:
                if name not in self.skipped:
                    self.skipped.add(name)
                    self.log(f"{self.run.run_dir}: metric {name!r} skipped: {exc}")
        return out, time.perf_counter() - t0

    def model_row(self, seed: int) -> ResultRow | None:
        self.ctx.seed = seed
        values, secs = self.score(None)
        if not values:
            return None
        return ResultRow(**self.base, kind="model", seed=seed, seeds=[seed], metric_seconds=secs, metrics=values)

    def prompts(self, spec: EvalSpec) -> Condition | None:
        """The conditional task's condition (one held-out prompt per sample), or ``None``; also in ``ctx.prompt``.

        Raises:
            ConditionError: fewer held-out sequences than samples, or ``K`` that leaves nothing to generate.
        """
        k = spec.prompt_len
        if k is None:
            return None
        if self.ctx.prompt is None:
            length = self.run.model.seq_len
            if k >= length:
                raise ConditionError(f"--prompt-len {k} leaves nothing to generate (sequences have {length} tokens)")
            try:
                tokens, attn = reference_tokens(self.ctx, spec.num_samples)
            except MetricNotApplicable as exc:
                raise ConditionError(f"--prompt-len needs held-out sequences: {exc}") from None
            if tokens.shape[0] < spec.num_samples:
                raise ConditionError(
                    f"--prompt-len: {tokens.shape[0]} held-out sequences for {spec.num_samples} samples (one each)"
                )
            visible = torch.zeros_like(attn)
            visible[:, :k] = attn[:, :k]  # (N, L) the first K real tokens of each sequence
            self.ctx.prompt = Condition(tokens.clone(), visible)
            self.ctx.prompt_reference = tokens.clone()  # the real continuations
        return self.ctx.prompt

    def sample_rows(self, components: Components, spec: EvalSpec, seed: int) -> list[ResultRow]:
        rows = []
        run = self.run
        self.ctx.seed = seed
        condition = self.prompts(spec)
        for name in spec.samplers or [run.cfg.sampler.name]:
            cls = components.get("sampler", name)
            missing = cls.requires - run.model.capabilities
            if missing:
                self.log(f"{run.run_dir}: sampler {name!r} skipped: the model lacks {sorted(missing)}")
                continue
            lat = spec.latent_steps if "latent_steps" in cls.Config.model_fields else None
            if spec.latent_steps is not None and lat is None and seed == spec.seeds[0]:
                self.log(f"{run.run_dir}: sampler {name!r} has no latent steps; --latent-steps ignored")
            for temp in spec.temperatures or [None]:
                for steps in spec.steps or [None]:
                    scfg = sampler_config(components, run, name=name, steps=steps, latent_steps=lat, temperature=temp)
                    if self.threads is not None:
                        self.threads.check()  # between cells: follow the machine's load (a cheap read)
                    res = draw_samples(
                        components,
                        run,
                        scfg,
                        num_samples=spec.num_samples,
                        seed=seed,
                        batch_size=spec.batch_size,
                        condition=condition,
                    )
                    values, secs = self.score(res.tokens)
                    rows.append(
                        ResultRow(
                            **self.base,
                            kind="samples",
                            seed=seed,
                            seeds=[seed],
                            sampler=scfg.name,
                            steps=scfg.steps,
                            latent_steps=getattr(scfg, "latent_steps", None),
                            nfe=res.nfe,
                            temperature=scfg.temperature,
                            top_p=scfg.top_p,
                            num_samples=int(res.tokens.shape[0]),
                            prompt_len=spec.prompt_len,
                            wall_seconds=res.seconds,
                            metric_seconds=secs,
                            metrics=values,
                        )
                    )
        return rows


def _cells_per_seed(spec: EvalSpec) -> int:
    """Grid cells of one run and seed: samplers x temperatures x token-step counts."""
    return len(spec.samplers or [None]) * len(spec.temperatures or [None]) * len(spec.steps or [None])


def evaluate(
    run_dirs: list[Path],
    spec: EvalSpec,
    components: Components,
    resources: dict[str, Resource] | None = None,
    log: Log = _stderr_log,
) -> ResultSet:
    """Evaluate every run over the grid of ``spec``; returns per-seed rows and their aggregates."""
    spec.check()
    resources = resources or {}
    notices: list[str] = []

    def note(msg: str) -> None:
        notices.append(msg)
        log(msg)

    result = ResultSet(
        device=spec.device,
        ladd_version=ladd_core.__version__,
        torch_version=torch.__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    ready = frozenset(n for n, r in resources.items() if r.available) | {"model"}
    if spec.prompt_len is not None:
        ready |= {"prompt"}
    unique = list(dict.fromkeys(Path(d) for d in run_dirs))
    if len(unique) < len(run_dirs):
        note("runs given more than once are evaluated once")
    per_seed = _cells_per_seed(spec)
    # plain lines (one per run and seed): each cell's sampling prints its own progress in between
    bar = Progress(len(unique) * len(spec.seeds) * per_seed, "eval", unit="cells", interactive=False, interval=0)
    # as in training: threads follow the load ("auto"); all of a machine's threads on cores another job holds
    # spin against it (a 2-thread sampler next to one training run slowed 8x), and the count is given back after
    threads = ThreadGovernor("auto", log, hint="")
    threads.start()
    try:
        _evaluate_runs(unique, spec, components, resources, ready, result, note, bar, threads)
    finally:
        threads.restore()
    bar.close()
    if "judge" in resources and resources["judge"].loaded:
        result.judge = resources["judge"].description
    result.notices = notices
    result.aggregates = aggregate(result.rows)
    return result


def _evaluate_runs(
    unique: list[Path],
    spec: EvalSpec,
    components: Components,
    resources: dict[str, Resource],
    ready: frozenset[str],
    result: ResultSet,
    note: Log,
    bar: Progress,
    threads: ThreadGovernor,
) -> None:
    """The loop of :func:`evaluate` over runs and seeds, appending rows to ``result``."""
    per_seed = _cells_per_seed(spec)
    for run_dir in unique:
        run = load_run(run_dir, components, device=spec.device)
        available = run.data.capabilities | run.model.capabilities | ready
        names = select_metrics(components, spec.metrics, available, note, str(run_dir))
        metrics = build_metrics(components, names, spec.metric_overrides)
        for n, m in metrics.items():
            result.metric_configs.setdefault(n, m.config.model_dump(mode="json"))
            result.not_compared = sorted(set(result.not_compared) | set(m.not_compared))
        ev = _RunEval(run, metrics, resources, note, threads)
        ev.ctx.latent_read_t_y = build_sampler(components, run.cfg.sampler).latent_read_time(run.model.capabilities)
        for seed in spec.seeds:
            row = ev.model_row(seed)
            result.rows += [row] if row is not None else []
            result.rows += ev.sample_rows(components, spec, seed)
            bar.update(per_seed)  # skipped (incompatible) cells count as done
        for asked, (tokens, _) in ev.ctx.references.items():
            note(f"{run_dir}: reference set of {tokens.shape[0]} held-out sequences (asked for up to {asked})")
