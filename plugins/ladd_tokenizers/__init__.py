"""Built-in tokenizers: ``char``, ``bpe``, ``gpt2`` and ``binary``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.tokenizers import Tokenizer
    from ladd_core.registry import Register


@hookimpl
def ladd_register_tokenizers(register: Register[type[Tokenizer]]) -> None:
    register_targets(
        register,
        {
            "char": "ladd_tokenizers.char:CharTokenizer",
            "bpe": "ladd_tokenizers.bpe:BPETokenizer",
            "gpt2": "ladd_tokenizers.gpt2:GPT2Tokenizer",
            "binary": "ladd_tokenizers.binary:BinaryTokenizer",
        },
    )
