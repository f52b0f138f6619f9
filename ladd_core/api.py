"""The Python API: the CLI's objects for notebooks and scripts.

>>> import ladd_core as ladd
>>> cfg = ladd.config("my-preset", {"train.max_steps": 2000})         # validated, same errors as the CLI
>>> run = ladd.train(cfg, out="runs/co")                               # or ladd.load("runs/co")
>>> out = run.sample(num_samples=8, steps=4, prompt="0110")            # tokens, texts, nfe, latents
>>> scores = ladd.evaluate([run], steps=[1, 4], metrics=["true-nll"])

Every function takes an optional ``components`` (a :class:`~ladd_core.plugins.Components`, e.g. from
:func:`ladd_core.plugins.load_plugins` with a chosen set of plug-ins); by default the installed
plug-ins are loaded once, as the CLI does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ladd_core.api_checks import check_float, check_int, check_list, check_overrides, check_path, check_str
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.config.loading import apply_overrides, load_config_source
from ladd_core.evaluation.engine import EvalSpec
from ladd_core.evaluation.schema import ResultSet
from ladd_core.outputs import check_run_out
from ladd_core.plugins import Components, get_components
from ladd_core.sampling import draw_samples, sampler_config
from ladd_core.training.runs import LoadedRun, check_run_dir, load_run

__all__ = ["Run", "Samples", "config", "evaluate", "load", "train"]

Overrides = Mapping[str, Any] | Sequence[str] | None


def _overrides(overrides: Overrides, name: str = "overrides") -> list[str]:
    """``{"train.max_steps": 2000}`` or ``["train.max_steps=2000"]`` -> ``--set`` strings (values as JSON)."""
    return check_overrides(overrides, name)


def _components(components: Components | None) -> Components:
    if components is not None and not isinstance(components, Components):
        raise ConfigError([("components", f"expected a Components, got {type(components).__name__}")])
    return components or get_components()


def config(
    source: str | Path | Mapping[str, Any] | ExperimentConfig,
    overrides: Overrides = None,
    *,
    components: Components | None = None,
) -> ExperimentConfig:
    """A validated experiment config from a preset name, a YAML/JSON file, a dict or a config, plus overrides.

    Args:
        source: a preset name, ``"my.yaml"``, a config dict, or an :class:`ExperimentConfig`.
        overrides: ``{"train.max_steps": 2000, "model.latent.p_cfg": 0.1}`` or ``["train.max_steps=2000"]``;
            setting ``x.name`` starts component ``x`` afresh, as ``--set`` does.

    Raises:
        ConfigError: naming every bad field path (the CLI's message), an unknown preset listing the known ones.
    """
    comps = _components(components)
    if isinstance(source, ExperimentConfig):
        data, where = source.model_dump(mode="json"), source.name or "<config>"
    elif isinstance(source, Mapping):
        data, where = dict(source), "<dict>"
    else:
        path = check_path(source, "source")
        data, where = load_config_source(str(path), comps), str(path)
    return validate_config(apply_overrides(data, _overrides(overrides)), comps, source=where)


@dataclass
class Samples:
    """What :meth:`Run.sample` returns.

    Attributes:
        tokens: ``(K, L)`` long ids.
        texts: the decoded samples.
        nfe: network calls per batch (the most any batch made).
        seconds: wall time of the sampling.
        latents: the final latent state per sample (``(K, ...)``), ``None`` for token-only models.
        info: the sampler's extra numbers (``calls_saved``, ...).
    """

    tokens: torch.Tensor
    texts: list[str]
    nfe: int
    seconds: float
    latents: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


class Run:
    """A trained run (or an exported model directory) loaded for sampling; see :func:`load` and :func:`train`.

    Attributes:
        run_dir: where it lives.
        cfg: its validated config.
        model: the model (EMA weights unless loaded with ``use_ema=False``), in eval mode.
        data: its data source (tokenizer restored).
        step: the training step of the loaded weights.
        result: the final validation metrics when the run was trained by :func:`train` in this process.
    """

    def __init__(self, loaded: LoadedRun, components: Components, result: dict[str, Any] | None = None) -> None:
        self._loaded = loaded
        self._components = components
        self.result = result or {}

    run_dir = property(lambda self: self._loaded.run_dir)
    cfg = property(lambda self: self._loaded.cfg)
    model = property(lambda self: self._loaded.model)
    data = property(lambda self: self._loaded.data)
    step = property(lambda self: self._loaded.step)

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}, config={self.cfg.name!r}, step={self.step})"

    def sample(
        self,
        num_samples: int = 8,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        latent_steps: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        prompt: str | None = None,
        infill: str | None = None,
        seed: int = 0,
        batch_size: int = 64,
        options: Mapping[str, Any] | Sequence[str] | None = None,
    ) -> Samples:
        """Draw samples, as ``ladd sample`` does (same defaults: the run's sampler config).

        Args:
            num_samples: how many.
            steps: token steps N; ``latent_steps``: M for samplers that have it.
            sampler: a sampler name (default: the run's).
            temperature, top_p: token sampling controls.
            prompt: text every sample begins with (its tokens are kept exactly).
            infill: a template whose ``<mask>`` / ``<mask:N>`` holes are filled (the rest is kept exactly).
            seed: the sampling seed (same seed, same samples).
            options: other sampler fields, e.g. ``{"cache": False}``.

        Raises:
            ConfigError: a bad option or an incompatible sampler; ConditionError (a ValueError): a prompt or
                template that does not fit (too long, nothing to fill, characters the tokenizer lacks).
        """
        check_int(num_samples, "num_samples")
        check_int(batch_size, "batch_size")
        check_int(seed, "seed", low=0)
        check_int(steps, "steps", optional=True)
        check_int(latent_steps, "latent_steps", optional=True)
        check_float(temperature, "temperature", optional=True)
        check_float(top_p, "top_p", optional=True)
        check_str(sampler, "sampler", optional=True)
        if prompt is not None and infill is not None:
            raise ConfigError([("prompt", "give either prompt or infill, not both")])
        check_str(prompt, "prompt", optional=True)
        check_str(infill, "infill", optional=True)
        scfg = sampler_config(
            self._components,
            self._loaded,
            name=sampler,
            steps=steps,
            latent_steps=latent_steps,
            temperature=temperature,
            top_p=top_p,
            overrides=_overrides(options, "options"),
        )
        condition = None
        if prompt is not None or infill is not None:
            from ladd_core.conditioning import from_infill, from_prompt

            length = self._loaded.data.seq_len
            condition = (
                from_prompt(self._loaded.data, prompt, length)
                if prompt is not None
                else from_infill(self._loaded.data, infill, length)  # type: ignore[arg-type]
            )
        res = draw_samples(
            self._components,
            self._loaded,
            scfg,
            num_samples=num_samples,
            seed=seed,
            batch_size=batch_size,
            **({"condition": condition} if condition is not None else {}),
        )
        return Samples(res.tokens, res.texts, res.nfe, res.seconds, res.latents, res.info)


def load(path: str | Path, *, device: str = "cpu", use_ema: bool = True, components: Components | None = None) -> Run:
    """Load a run directory or an exported model directory (``ladd export``) for sampling.

    Raises:
        FileNotFoundError, ConfigError, CheckpointError: as ``ladd sample`` (one-line messages).
    """
    comps = _components(components)
    where = check_path(path, "path")
    check_str(device, "device")
    if not isinstance(use_ema, bool):
        raise ConfigError([("use_ema", f"expected True or False, got {use_ema!r:.60}")])
    check_run_dir(where)
    return Run(load_run(where, comps, device=device, use_ema=use_ema), comps)


def train(
    cfg: ExperimentConfig | str | Mapping[str, Any],
    out: str | Path,
    *,
    max_steps: int | None = None,
    components: Components | None = None,
) -> Run:
    """Train (or resume, as ``ladd train`` does) into ``out`` and return the trained run loaded for sampling.

    Args:
        cfg: a config from :func:`config`, or anything :func:`config` accepts.
        out: the run directory (new, empty, or a run to resume); never inside a run or an export.
        max_steps: stop at this step, from 1 to ``cfg.train.max_steps`` (the default).

    Raises:
        ConfigError: a bad argument (named); OutputError: ``out`` refused by the output guard.
    """
    from ladd_core.training.factory import build_trainer

    comps = _components(components)
    check_int(max_steps, "max_steps", optional=True)
    if not isinstance(out, str | Path):
        check_path(out, "out")  # an ArgumentError naming it
    run_dir = check_run_out(out, "out")
    exp = cfg if isinstance(cfg, ExperimentConfig) else config(cfg, components=comps)
    if max_steps is not None and max_steps > exp.train.max_steps:
        raise ConfigError([("max_steps", f"{max_steps} is past train.max_steps={exp.train.max_steps} (the schedule "
                            "ends there); to train longer set train.max_steps in the config")])  # fmt: skip
    trainer = build_trainer(exp, comps, run_dir)
    result = trainer.train(max_steps)
    del trainer
    return Run(load_run(run_dir, comps), comps, result)


def _run_item(value: Any, name: str) -> Run | Path:
    """One entry of ``evaluate(runs=...)``: a :class:`Run` or a path."""
    return value if isinstance(value, Run) else check_path(value, name)


def evaluate(
    runs: Sequence[Run | str | Path],
    *,
    steps: Sequence[int] | None = None,
    samplers: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    temperatures: Sequence[float] | None = None,
    latent_steps: int | None = None,
    num_samples: int = 64,
    seeds: Sequence[int] = (0,),
    batch_size: int = 64,
    device: str = "cpu",
    metric_options: Sequence[str] = (),
    components: Components | None = None,
) -> ResultSet:
    """Score runs over a grid, as ``ladd eval`` does; returns the :class:`ResultSet` (``.rows``, ``.save(path)``).

    Only metrics whose requirements a run meets are computed (a judge model is not loaded here;
    use the CLI's ``--judge`` for ``gen-ppl``).
    """
    from ladd_core.evaluation.engine import evaluate as run_grid

    comps = _components(components)
    runs = check_list(runs, "runs", _run_item) or []
    spec = EvalSpec(
        steps=check_list(steps, "steps", check_int, optional=True),
        latent_steps=check_int(latent_steps, "latent_steps", optional=True),
        samplers=check_list(samplers, "samplers", check_str, optional=True),
        temperatures=check_list(temperatures, "temperatures", check_float, optional=True),
        num_samples=check_int(num_samples, "num_samples") or 1,
        seeds=check_list(seeds, "seeds", lambda v, n: check_int(v, n, low=0)) or [],
        metrics=check_list(metrics, "metrics", check_str, optional=True),
        metric_overrides=_overrides(metric_options, "metric_options"),
        batch_size=check_int(batch_size, "batch_size") or 1,
        device=check_str(device, "device") or "cpu",
    )
    spec.check()
    for name in spec.metrics or []:
        comps.get("metric", name)
    for name in spec.samplers or []:
        comps.get("sampler", name)
    dirs = [r.run_dir if isinstance(r, Run) else Path(r) for r in runs]
    if len({d.resolve() for d in dirs}) < len(dirs):
        raise ConfigError([("runs", "a run is listed more than once")])
    for d in dirs:
        check_run_dir(d)
    return run_grid(dirs, spec, comps, {})
