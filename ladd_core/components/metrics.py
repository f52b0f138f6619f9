"""Metrics: score generated samples (:class:`SampleMetric`) or the model itself (:class:`ModelMetric`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from torch import Tensor

from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.components.data import DataSource
    from ladd_core.conditioning import Condition
    from ladd_core.model import LaddModel

__all__ = ["EvalContext", "Judge", "Metric", "MetricConfig", "MetricValue", "ModelMetric", "SampleMetric"]

T = TypeVar("T")


class MetricConfig(ComponentConfig):
    """Shared metric fields."""


@dataclass(frozen=True)
class MetricValue:
    """A measured value with its spread.

    Attributes:
        value: the point estimate.
        stderr: standard error of the estimate (``None`` when not defined).
        unit: e.g. ``"bits/token"``.
        higher_is_better: direction, for tables.
    """

    value: float
    stderr: float | None = None
    unit: str = ""
    higher_is_better: bool = False


class Judge(Protocol):
    """An external causal LM that scores texts (see :class:`ladd_core.evaluation.judge.CausalLMJudge`)."""

    def score(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """NLL in nats ``(n,)`` and scored tokens ``(n,)`` per text."""
        ...


@dataclass
class EvalContext:
    """What a metric may use: the run, the current seed, the loaded resources and a per-run cache.

    One context lives for the evaluation of one run (all its seeds and cells); the engine sets
    ``seed`` before each seed and fills a resource field before the first metric that requires it.

    Attributes:
        data: the run's data source (real data, decoder, known generator).
        model: the model under evaluation (for likelihood bounds), or ``None``.
        seed: the current sampling seed (model metrics seed their time/noise draws with it).
        judge: the ``"judge"`` resource (an external causal LM), when loaded.
        zero_shot: the ``"zero_shot"`` resource (a text file to score), when given.
        prompt: the ``"prompt"`` resource: one held-out prompt per sample (the conditional task).
        prompt_reference: the real sequences the prompts were cut from ``(N, L)``.
        references: held-out sequences by the number asked for: ``tokens (R, L)``, ``attention_mask (R, L)``
            (filled by :func:`ladd_core.evaluation.context.reference_tokens`).
        latent_read_t_y: the latent time at which the run's configured sampler reads the latent at its first
            step (:meth:`~ladd_core.components.samplers.Sampler.latent_read_time`), or ``None``.
    """

    data: DataSource
    model: LaddModel | None = None
    seed: int = 0
    judge: Judge | None = None
    zero_shot: Path | None = None
    prompt: Condition | None = None
    prompt_reference: Tensor | None = None
    references: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    latent_read_t_y: float | None = None
    _cache: dict[tuple[str, Hashable], Any] = field(default_factory=dict, repr=False)

    def cached(self, owner: str, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per run: a value shared by every seed and cell (e.g. a reference score).

        Args:
            owner: the metric's registered name (keeps metrics' caches apart).
            key: what the value depends on besides the run (e.g. the reference size).
            compute: builds the value on first use.
        """
        if (owner, key) not in self._cache:
            self._cache[(owner, key)] = compute()
        return self._cache[(owner, key)]


class Metric:
    """What every metric has; derive from :class:`SampleMetric` or :class:`ModelMetric`.

    Attributes:
        requires: what the metric needs: data capabilities (``"known_generator"``,
            ``"text"``) or context resources (``"model"``, ``"judge"``, ``"zero_shot"``, ``"prompt"``).
        not_compared: names of reported values that are references or diagnostics and are
            never ranked between models (e.g. the real data's entropy).
        default: whether an evaluation that names no metrics runs it.
    """

    Config: ClassVar[type[MetricConfig]] = MetricConfig
    requires: ClassVar[frozenset[str]] = frozenset()
    not_compared: ClassVar[frozenset[str]] = frozenset()
    default: ClassVar[bool] = True
    """Whether an evaluation that names no metrics runs it (``False``: only when asked for by name, e.g. a slow
    diagnostic)."""

    def __init__(self, config: MetricConfig) -> None:
        self.config = config


class SampleMetric(Metric, ABC):
    """A metric of generated samples: scored once per evaluation cell (sampler, steps, temperature, seed)."""

    @abstractmethod
    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        """Score ``samples (N, L)``; return named values (a metric may report several)."""


class ModelMetric(Metric, ABC):
    """A metric of the model and the run's data that needs no samples (a likelihood bound on held-out data).

    The engine scores it once per run and seed, in a ``"model"`` row, with ``context.seed`` set.
    """

    @abstractmethod
    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        """Score the run in ``context``; return named values (a metric may report several)."""
