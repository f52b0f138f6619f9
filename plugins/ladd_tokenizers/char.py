"""Character-level tokenizer fitted on the training text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Literal

from ladd_core.components.tokenizers import Tokenizer, TokenizerConfig
from ladd_tokenizers._io import atomic_write_text

__all__ = ["CharTokenizer"]

_UNK_TEXT = "\ufffd"


class CharTokenizer(Tokenizer):
    """One id per character seen during :meth:`fit` (sorted), then ``<unk>``, then ``<pad>``.

    Unknown characters encode to ``unk_id`` and decode to U+FFFD; ``<pad>`` decodes to nothing.
    """

    class Config(TokenizerConfig):
        name: Literal["char"] = "char"

    needs_fit: ClassVar[bool] = True
    FILENAME: ClassVar[str] = "char_tokenizer.json"
    files: ClassVar[tuple[str, ...]] = (FILENAME,)

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())
        self._chars: list[str] | None = None
        self._stoi: dict[str, int] = {}

    @property
    def is_fitted(self) -> bool:
        """Whether a vocabulary was fitted or loaded."""
        return self._chars is not None

    def _vocab(self) -> list[str]:
        if self._chars is None:
            raise RuntimeError("char tokenizer is not fitted: call fit() or load() first")
        return self._chars

    def _set_vocab(self, chars: list[str]) -> None:
        self._chars = chars
        self._stoi = {c: i for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self._vocab()) + 2

    @property
    def unk_id(self) -> int:
        """Id of characters not seen during fitting."""
        return len(self._vocab())

    @property
    def pad_id(self) -> int:
        return len(self._vocab()) + 1

    @property
    def non_data_ids(self) -> frozenset[int]:
        """``<unk>`` and ``<pad>``: a sample holding them would decode to U+FFFD or to nothing."""
        return frozenset({self.unk_id, self.pad_id})

    def fit(self, texts: Iterable[str]) -> None:
        """Vocabulary = sorted set of every character in ``texts``."""
        seen: set[str] = set()
        for t in texts:
            seen.update(t)
        self._set_vocab(sorted(seen))

    def encode(self, text: str) -> list[int]:
        """Ids of each character of ``text``."""
        self._vocab()
        unk = self.unk_id
        return [self._stoi.get(c, unk) for c in text]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; ``<pad>`` is dropped, ``<unk>`` becomes U+FFFD."""
        chars = self._vocab()
        n = len(chars)
        out = []
        for i in ids:
            if 0 <= i < n:
                out.append(chars[i])
            elif i == n:
                out.append(_UNK_TEXT)
            elif i != n + 1:
                raise ValueError(f"id {i} is outside the vocabulary (size {n + 2})")
        return "".join(out)

    def save(self, directory: Path) -> None:
        """Write ``char_tokenizer.json`` (the character list) atomically."""
        payload = {"type": "char", "chars": self._vocab()}
        atomic_write_text(Path(directory) / self.FILENAME, json.dumps(payload, ensure_ascii=False))

    def load(self, directory: Path) -> bool:
        """Restore the vocabulary from ``directory``; ``False`` when nothing was saved there."""
        path = Path(directory) / self.FILENAME
        if not path.is_file():
            return False
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{path} is not a readable char tokenizer file: {exc}") from None
        if not isinstance(payload, dict) or payload.get("type") != "char":
            raise ValueError(f"{path} is not a char tokenizer file")
        chars = payload.get("chars")
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"{path} is corrupt: 'chars' must be a list of single characters")
        self._set_vocab(list(chars))
        return True
