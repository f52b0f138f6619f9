"""Built-in tokenizers: ``char``, ``bpe``, ``gpt2`` and ``binary``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.tokenizers import Tokenizer
    from ladd_core.registry import Register


@hookimpl
def ladd_register_tokenizers(register: Register[type[Tokenizer]]) -> None:
    from ladd_tokenizers.binary import BinaryTokenizer
    from ladd_tokenizers.bpe import BPETokenizer
    from ladd_tokenizers.char import CharTokenizer
    from ladd_tokenizers.gpt2 import GPT2Tokenizer

    register_classes(register, CharTokenizer, BPETokenizer, GPT2Tokenizer, BinaryTokenizer)
