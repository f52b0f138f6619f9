"""Metrics: score generated samples (and models) with their uncertainty."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor

from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.components.data import DataSource
    from ladd_core.model import LaddModel

__all__ = ["EvalContext", "Metric", "MetricConfig", "MetricValue"]


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


@dataclass
class EvalContext:
    """What a metric may use.

    Attributes:
        data: the run's data source (real data, decoder, known generator).
        model: the model under evaluation (for likelihood bounds), or ``None``.
        extras: named resources such as ``"judge"``.
    """

    data: DataSource
    model: LaddModel | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    """Base class of metrics.

    Attributes:
        requires: what the metric needs: data capabilities (``"known_generator"``,
            ``"text"``) or context resources (``"model"``, ``"judge"``).
        sample_free: the metric ignores samples (a likelihood bound on held-out data); the
            engine computes it once per run and seed, in a ``"model"`` row.
        not_compared: names of reported values that are references or diagnostics and are
            never ranked between models (e.g. the real data's entropy).
    """

    Config: ClassVar[type[MetricConfig]] = MetricConfig
    requires: ClassVar[frozenset[str]] = frozenset()
    sample_free: ClassVar[bool] = False
    not_compared: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: MetricConfig) -> None:
        self.config = config

    @abstractmethod
    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        """Score ``samples (N, L)``; return named values (a metric may report several)."""
