"""Data sources: deterministic, resumable streams of token batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field
from torch import Tensor

from ladd_core.config.base import ComponentConfig

if TYPE_CHECKING:
    from ladd_core.components.tokenizers import Tokenizer

__all__ = ["Batch", "DataConfig", "DataSource"]


class DataConfig(ComponentConfig):
    """Shared data fields."""

    seq_len: int = Field(128, ge=1, description="L, tokens per example")


@dataclass(frozen=True)
class Batch:
    """A batch of examples.

    Attributes:
        tokens: ``(B, L)`` long ids; padding positions hold any valid id.
        attention_mask: ``(B, L)`` bool, ``True`` at real tokens (padding is never noised or scored).
    """

    tokens: Tensor
    attention_mask: Tensor

    def to(self, device: object) -> Batch:
        return Batch(self.tokens.to(device), self.attention_mask.to(device))  # type: ignore[arg-type]


class DataSource(ABC):
    """A dataset with a deterministic order per ``(seed, epoch)``.

    Args:
        config: the component's ``Config``.
        seed: the experiment seed.
        work_dir: a directory for caches and fitted artifacts (tokenizers) of this run.

    Capabilities: ``"known_generator"`` when :meth:`log_likelihood` gives exact
    ``log p(x)`` of the data-generating process (synthetic data), ``"text"``
    when the tokenizer decodes to natural text.
    """

    Config: ClassVar[type[DataConfig]] = DataConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: DataConfig, seed: int, work_dir: Path) -> None:
        self.config = config
        self.seed = seed
        self.work_dir = work_dir

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    @property
    @abstractmethod
    def tokenizer(self) -> Tokenizer:
        """The tokenizer that produced the ids (prepared: fitted or loaded)."""

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @abstractmethod
    def num_train_batches(self, batch_size: int) -> int:
        """Batches per training epoch."""

    @abstractmethod
    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Training batches of ``epoch`` from index ``start`` on; same seed and epoch give the same batches."""

    @abstractmethod
    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        """Held-out batches, always in the same order."""

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats per sequence ``(B,)``; only with ``"known_generator"``."""
        raise NotImplementedError(f"{type(self).__name__} has no known generator")

    def log_marginal(self, tokens: Tensor, observed: Tensor) -> Tensor:
        """Exact ``log p(x_O)`` in nats ``(B,)`` of the positions ``observed (B, L)`` (bool) of ``tokens (B, L)``,
        the other positions summed out; optional, for a ``"known_generator"`` source (conditional NLLs).
        """
        raise NotImplementedError(f"{type(self).__name__} gives no marginals of a subset of positions")

    def decode(self, tokens: Tensor, attention_mask: Tensor | None = None) -> list[str]:
        """Text of each row of ``tokens (B, L)`` (padding dropped)."""
        out = []
        for i, row in enumerate(tokens.tolist()):
            if attention_mask is not None:
                row = [tok for tok, m in zip(row, attention_mask[i].tolist(), strict=True) if m]
            out.append(self.tokenizer.decode(row))
        return out
