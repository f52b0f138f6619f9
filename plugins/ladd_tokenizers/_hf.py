"""What the ``bpe`` and ``gpt2`` tokenizers share: a Hugging Face ``tokenizers.Tokenizer`` behind the ladd API."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from ladd_core.components.tokenizers import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    import tokenizers

__all__ = ["LibraryTokenizer"]


class LibraryTokenizer(Tokenizer):
    """A tokenizer backed by a ``tokenizers.Tokenizer`` (held in ``_tok``, built or loaded by the subclass).

    A subclass names its special tokens in ``PAD_TOKEN`` and ``EOS_TOKEN`` (the same token may serve both);
    ``pad_id`` and ``eos_id`` are their ids in the library vocabulary.
    """

    PAD_TOKEN: ClassVar[str]
    EOS_TOKEN: ClassVar[str]

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        super().__init__(config if config is not None else self.Config())
        self._tok: tokenizers.Tokenizer | None = None

    @abstractmethod
    def _get(self) -> tokenizers.Tokenizer:
        """The library tokenizer (built on first use, or an error where it must be fitted or loaded first)."""

    @property
    def vocab_size(self) -> int:
        return self._get().get_vocab_size(with_added_tokens=True)

    def _special_id(self, token: str) -> int:
        idx = self._get().token_to_id(token)
        if idx is None:  # pragma: no cover - only with a foreign tokenizer.json
            raise RuntimeError(f"{token} is missing from the vocabulary")
        return idx

    @property
    def pad_id(self) -> int:
        return self._special_id(self.PAD_TOKEN)

    @property
    def eos_id(self) -> int:
        return self._special_id(self.EOS_TOKEN)

    def encode(self, text: str) -> list[int]:
        return self._get().encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text via the library's parallel batch encoder."""
        return [e.ids for e in self._get().encode_batch(texts, add_special_tokens=False)]
