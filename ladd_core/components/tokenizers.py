"""Tokenizers: text <-> ids, fitted or loaded, saved with each run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from ladd_core.config.base import ComponentConfig

__all__ = ["Tokenizer", "TokenizerConfig"]


class TokenizerConfig(ComponentConfig):
    """Shared tokenizer fields."""


class Tokenizer(ABC):
    """Maps text to ids ``0 .. vocab_size-1`` and back.

    Trainable tokenizers (``needs_fit = True``) learn from the training text once,
    then :meth:`save` their files into the run directory; :meth:`load` restores them.

    Args:
        config: the component's ``Config``.
    """

    Config: ClassVar[type[TokenizerConfig]] = TokenizerConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()
    needs_fit: ClassVar[bool] = False
    files: ClassVar[tuple[str, ...]] = ()
    """The file names :meth:`save` writes (``ladd export`` copies these and nothing else)."""

    def __init__(self, config: TokenizerConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids."""

    @property
    def pad_id(self) -> int | None:
        """Id used for padding, if the tokenizer has one."""
        return None

    @property
    def eos_id(self) -> int | None:
        """End-of-text id, if any."""
        return None

    @property
    def non_data_ids(self) -> frozenset[int]:
        """Ids that encoded data never holds as a token to model (padding, unknown-character markers).

        Samplers never emit them: the model removes them from the denoiser's distribution
        (:meth:`ladd_core.model.LaddModel.posterior`).  Default: none.
        """
        return frozenset()

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text (override for speed)."""
        return [self.encode(t) for t in texts]

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``."""

    def fit(self, texts: Iterable[str]) -> None:
        """Learn the vocabulary (trainable tokenizers only); the default does nothing."""
        return None

    def save(self, directory: Path) -> None:
        """Write the files needed by :meth:`load` into ``directory`` (default: nothing)."""
        return None

    def load(self, directory: Path) -> bool:
        """Restore from ``directory``; return ``False`` when nothing was saved there."""
        return not self.needs_fit
