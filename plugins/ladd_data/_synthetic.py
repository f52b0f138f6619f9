"""Shared batching of synthetic sources with a known generator (fresh training data every epoch)."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from ladd_core.components.data import Batch, DataConfig, DataSource
from ladd_data._util import mix_seed

__all__ = ["SyntheticSource"]


class SyntheticSource(DataSource):
    """A data source that draws full-length sequences from a generator it can score exactly.

    Training data is regenerated every epoch: batch ``i`` of epoch ``e`` is a pure function of
    ``(seed, e, i)``.  Validation data is one fixed set drawn from ``config.val_seed`` (independent of
    the experiment seed and of the batch size).  Subclasses implement :meth:`_sample` and
    :meth:`log_likelihood`; ``stream`` names their random streams.

    The config must have ``train_size``, ``val_size`` and ``val_seed``.
    """

    stream: ClassVar[str] = "synthetic"
    capabilities: ClassVar[frozenset[str]] = frozenset({"known_generator"})

    def __init__(self, config: DataConfig, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, Path(work_dir) if work_dir is not None else Path("."))
        self._val: Tensor | None = None

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` sequences ``(n, L)`` long and their hidden causes ``(n,)``."""

    def sample(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """Fresh samples ``(n, L)`` and their hidden causes ``(n,)``, reproducible from ``seed``."""
        return self._sample(n, torch.Generator().manual_seed(mix_seed(f"{self.stream}-sample", seed)))

    def _batch(self, tokens: Tensor) -> Batch:
        return Batch(tokens, torch.ones_like(tokens, dtype=torch.bool))

    def num_train_batches(self, batch_size: int) -> int:
        """``train_size // batch_size`` (the last incomplete batch is dropped)."""
        n = self.config.train_size // batch_size  # type: ignore[attr-defined]
        if n == 0:
            raise ValueError(
                f"train_size={self.config.train_size} is smaller than batch_size={batch_size}"  # type: ignore[attr-defined]
            )
        return n

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start ..`` of ``epoch``; each drawn from its own generator seeded by ``(seed, epoch, i)``."""
        for i in range(start, self.num_train_batches(batch_size)):
            g = torch.Generator().manual_seed(mix_seed(f"{self.stream}-train", self.seed, epoch, i))
            yield self._batch(self._sample(batch_size, g)[0])

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        """The fixed validation set in order (the last batch may be smaller)."""
        if self._val is None:
            g = torch.Generator().manual_seed(mix_seed(f"{self.stream}-val", self.config.val_seed))  # type: ignore[attr-defined]
            self._val = self._sample(self.config.val_size, g)[0]  # type: ignore[attr-defined]
        n = math.ceil(self._val.shape[0] / batch_size)
        if max_batches is not None:
            n = min(n, max_batches)
        for b in range(n):
            yield self._batch(self._val[b * batch_size : (b + 1) * batch_size].long())
