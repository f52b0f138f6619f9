"""Built-in tokenizers: ``char``, ``bpe``, ``gpt2`` and ``binary``."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_tokenizers(register: Any) -> None:
    from ladd_tokenizers.binary import BinaryTokenizer
    from ladd_tokenizers.bpe import BPETokenizer
    from ladd_tokenizers.char import CharTokenizer
    from ladd_tokenizers.gpt2 import GPT2Tokenizer

    register("char", CharTokenizer)
    register("bpe", BPETokenizer)
    register("gpt2", GPT2Tokenizer)
    register("binary", BinaryTokenizer)
