"""The fixed two-symbol tokenizer of binary synthetic data (``'0'`` -> 0, ``'1'`` -> 1)."""

from __future__ import annotations

from typing import Literal

from ladd_core.components.tokenizers import Tokenizer, TokenizerConfig

__all__ = ["BinaryTokenizer"]


class BinaryTokenizer(Tokenizer):
    """Maps the characters ``'0'`` and ``'1'`` to ids 0 and 1; nothing to fit, no padding id."""

    class Config(TokenizerConfig):
        name: Literal["binary"] = "binary"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())

    @property
    def vocab_size(self) -> int:
        return 2

    def encode(self, text: str) -> list[int]:
        """Ids of a string of ``'0'``/``'1'``; any other character is an error."""
        bad = set(text) - {"0", "1"}
        if bad:
            raise ValueError(f"binary tokenizer only encodes '0' and '1', got {sorted(bad)!r}")
        return [1 if c == "1" else 0 for c in text]

    def decode(self, ids: list[int]) -> str:
        """Text of ids in ``{0, 1}``."""
        if any(i not in (0, 1) for i in ids):
            raise ValueError("binary tokenizer ids must be 0 or 1")
        return "".join("1" if i else "0" for i in ids)
