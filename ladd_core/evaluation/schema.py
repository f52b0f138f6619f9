"""The result schema of ``ladd eval``: one :class:`ResultRow` per measured cell, in one :class:`ResultSet` file.

JSON form: ``ResultSet.to_dict()``; non-finite floats are written as ``null`` (strict JSON) and
read back as NaN.  ``schema_version`` changes when a field changes meaning.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ladd_core.components.metrics import MetricValue
from ladd_core.training.checkpoint import atomic_write_text

__all__ = ["SCHEMA_VERSION", "ResultRow", "ResultSet", "metric_from_dict", "metric_to_dict"]

SCHEMA_VERSION = 1


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def metric_to_dict(v: MetricValue) -> dict[str, Any]:
    """JSON form of a :class:`MetricValue` (NaN/inf -> ``None``)."""
    return {
        "value": _finite(v.value),
        "stderr": _finite(v.stderr),
        "unit": v.unit,
        "higher_is_better": v.higher_is_better,
    }


def metric_from_dict(d: dict[str, Any]) -> MetricValue:
    """Inverse of :func:`metric_to_dict` (a missing value reads as NaN)."""
    value = d.get("value")
    return MetricValue(
        float("nan") if value is None else float(value),
        None if d.get("stderr") is None else float(d["stderr"]),
        str(d.get("unit", "")),
        bool(d.get("higher_is_better", False)),
    )


@dataclass
class ResultRow:
    """One evaluated cell: a run, a seed (or several, aggregated), a sampler setting, and its metrics.

    Attributes:
        run: the run directory.
        model: the experiment (preset) name of the run.
        config_hash: hash of the run's config.
        run_step: training step of the evaluated checkpoint.
        latent: the run's latent channel; ``latent_model`` is ``False`` for token-only models (MDLM).
        kind: ``"samples"`` (metrics of generated samples) or ``"model"`` (sample-free metrics, e.g. NELBO).
        seed: the sampling seed (``None`` in aggregates); ``seeds`` lists all seeds behind the row.
        sampler, steps, latent_steps, nfe, temperature, top_p: the sampler setting (``None`` for ``"model"`` rows);
            ``steps`` is N, ``latent_steps`` M, ``nfe`` network calls per batch.
        num_samples: generated samples per seed (never filtered).
        prompt_len: ``K`` of a conditional task (every sample continues the first ``K`` tokens of its own
            held-out sequence), ``None`` for unconditional samples.
        wall_seconds: sampling time (per seed; mean over seeds in aggregates); ``metric_seconds`` scoring time.
        precision: weights dtype and sampling precision.
        metrics: name -> value with its spread.
        seed_spread: name -> standard deviation across seeds (aggregates of several seeds only).
    """

    run: str
    model: str
    config_hash: str
    run_step: int
    latent: str
    latent_model: bool
    kind: str
    seed: int | None
    seeds: list[int]
    sampler: str | None = None
    steps: int | None = None
    latent_steps: int | None = None
    nfe: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    num_samples: int | None = None
    prompt_len: int | None = None
    wall_seconds: float = 0.0
    metric_seconds: float = 0.0
    precision: str = ""
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    seed_spread: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = {k: metric_to_dict(v) for k, v in self.metrics.items()}
        d["seed_spread"] = {k: _finite(v) for k, v in self.seed_spread.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRow:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["metrics"] = {k: metric_from_dict(v) for k, v in d.get("metrics", {}).items()}
        kw["seed_spread"] = {k: float("nan") if v is None else v for k, v in d.get("seed_spread", {}).items()}
        kw["seeds"] = list(d.get("seeds", []))
        return cls(**kw)

    @property
    def setting(self) -> tuple[Any, ...]:
        """What identifies the cell apart from the seed."""
        return (
            self.run, self.kind, self.sampler, self.steps, self.latent_steps, self.temperature, self.top_p,
            self.prompt_len,
        )  # fmt: skip


@dataclass
class ResultSet:
    """A results file: provenance, per-seed rows and their aggregates over seeds.

    Attributes:
        rows: one row per run x seed x sampler x temperature x N (and one ``"model"`` row per run x seed).
        aggregates: rows merged over seeds (see :func:`ladd_core.evaluation.aggregate.aggregate`).
        notices: everything skipped and why (incompatible samplers, unmet metric requirements).
        metric_configs: metric name -> its config (sample counts, projections, smoothing ...).
        not_compared: metric values that are references or have no better direction (never ranked).
        judge: the generative-perplexity judge, if one was used.
    """

    rows: list[ResultRow] = field(default_factory=list)
    aggregates: list[ResultRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    metric_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_compared: list[str] = field(default_factory=list)
    judge: str | None = None
    device: str = "cpu"
    ladd_version: str = ""
    torch_version: str = ""
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["rows"] = [r.to_dict() for r in self.rows]
        d["aggregates"] = [r.to_dict() for r in self.aggregates]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultSet:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"results schema version {version!r} is not {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["rows"] = [ResultRow.from_dict(r) for r in d.get("rows", [])]
        kw["aggregates"] = [ResultRow.from_dict(r) for r in d.get("aggregates", [])]
        return cls(**kw)

    def save(self, path: Path, *, owns: frozenset[str] = frozenset()) -> None:
        """Write strict JSON to ``path`` (atomically); the output guard refuses a run's own files and exports.

        ``owns``: names inside a run that the caller owns (see :func:`ladd_core.outputs.check_file`).
        """
        from ladd_core.outputs import check_file

        path = check_file(path, "results file", ".json", owns=owns)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> ResultSet:
        """Read a file written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
