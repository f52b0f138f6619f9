"""Byte-level BPE trained locally with the ``tokenizers`` library."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from ladd_core.components.tokenizers import TokenizerConfig
from ladd_tokenizers._hf import LibraryTokenizer
from ladd_tokenizers._io import atomic_write_text

if TYPE_CHECKING:
    import tokenizers

__all__ = ["BPETokenizer"]

PAD, EOS = "<pad>", "<eos>"


class BPETokenizer(LibraryTokenizer):
    """Byte-level BPE (GPT-2 style pre-tokenisation) with special tokens ``<pad>`` (id 0) and ``<eos>`` (id 1).

    Every byte is in the initial alphabet, so any text round-trips exactly.
    """

    class Config(TokenizerConfig):
        name: Literal["bpe"] = "bpe"
        vocab_size: int = Field(1024, ge=258, description="target vocabulary (256 bytes + 2 specials at least)")
        min_frequency: int = Field(2, ge=1, description="minimum pair count for a merge")

    config: Config
    needs_fit: ClassVar[bool] = True
    FILENAME: ClassVar[str] = "tokenizer.json"
    META: ClassVar[str] = "bpe_config.json"
    files: ClassVar[tuple[str, ...]] = (FILENAME, META)
    PAD_TOKEN: ClassVar[str] = PAD
    EOS_TOKEN: ClassVar[str] = EOS

    @property
    def is_fitted(self) -> bool:
        """Whether a model was trained or loaded."""
        return self._tok is not None

    def _get(self) -> tokenizers.Tokenizer:
        if self._tok is None:
            raise RuntimeError("bpe tokenizer is not fitted: call fit() or load() first")
        return self._tok

    @property
    def non_data_ids(self) -> frozenset[int]:
        """``<pad>`` (``<eos>`` may be part of the data and stays allowed)."""
        return frozenset({self.pad_id})

    def fit(self, texts: Iterable[str]) -> None:
        """Train merges on ``texts`` (streamed through the trainer)."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=self.config.vocab_size,
            min_frequency=self.config.min_frequency,
            special_tokens=[PAD, EOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        self._tok = tok

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; ``<pad>`` is dropped, ``<eos>`` is kept as text."""
        pad = self.pad_id
        return self._get().decode([i for i in ids if i != pad], skip_special_tokens=False)

    def save(self, directory: Path) -> None:
        """Write ``tokenizer.json`` and ``bpe_config.json`` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.FILENAME}.", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            self._get().save(tmp)
            os.replace(tmp, directory / self.FILENAME)
        finally:
            Path(tmp).unlink(missing_ok=True)
        atomic_write_text(directory / self.META, self.config.model_dump_json())

    def load(self, directory: Path) -> bool:
        """Restore from ``directory``; ``False`` when nothing (or a model trained with another config) is there."""
        from tokenizers import Tokenizer as HFTokenizer

        directory = Path(directory)
        path, meta = directory / self.FILENAME, directory / self.META
        if not (path.is_file() and meta.is_file()):
            return False
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{meta} is not a readable BPE config: {exc}") from None
        if saved != self.config.model_dump(mode="json"):
            return False
        try:
            self._tok = HFTokenizer.from_file(str(path))
        except Exception as exc:  # the tokenizers library raises its own (untyped) errors
            detail = " ".join(str(exc).split())[:200]
            raise ValueError(f"{path} is not a readable BPE tokenizer file: {detail}") from None
        return True
