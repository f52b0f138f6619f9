"""``real-words``: the share of generated words that the training text contains, on a tiny character corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ladd_core.components.data import Batch, DataSource
from ladd_core.components.metrics import EvalContext
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_metrics.words import RealWords, inner_words, word_share

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
TRAIN = ["the king is dead ", " long live the king", " o'er the hills we go "]
HELD_OUT = [" the queen is here "]


class _Chars:
    vocab_size = len(ALPHABET)
    pad_id = None

    def decode(self, ids: list[int]) -> str:
        return "".join(ALPHABET[i] for i in ids)


def _ids(texts: list[str]) -> torch.Tensor:
    width = max(map(len, texts))
    return torch.tensor([[ALPHABET.index(c) for c in t.ljust(width)] for t in texts])


class _Corpus(DataSource):
    capabilities = frozenset({"text"})

    def __init__(self, train: list[str]) -> None:
        super().__init__(DataSource.Config(name="chars", seq_len=24), 0, Path("."))
        self.train = train

    @property
    def tokenizer(self):  # type: ignore[override]
        return _Chars()

    def num_train_batches(self, batch_size: int) -> int:
        return 1

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        toks = _ids(self.train)
        yield Batch(toks, torch.ones_like(toks, dtype=torch.bool))

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        toks = _ids(HELD_OUT)
        yield Batch(toks, torch.ones_like(toks, dtype=torch.bool))


def test_inner_words_drop_the_words_cut_by_either_end():
    assert inner_words("ing the king's men ar") == ["the", "king's", "men"]
    assert inner_words(" o'er the hills ") == ["o'er", "the", "hills"]
    assert inner_words("Hark, 3 men!") == ["men"]  # "Hark" touches the start; digits are not words
    assert inner_words("word") == []


def test_word_share_counts_hits_per_text():
    hits, counts = word_share([" the cat sat ", " xq zz "], frozenset({"the", "sat"}))
    assert hits.tolist() == [2.0, 0.0] and counts.tolist() == [3.0, 2.0]


def test_real_words_of_samples_against_the_training_lexicon():
    ctx = EvalContext(_Corpus(TRAIN))
    metric = RealWords(RealWords.Config(reference_size=4))
    samples = _ids([" the king go xyzzy ", " long qqq hills "])  # 5 of 7 inner words are in the lexicon
    out = metric.compute(samples, ctx)
    assert out["real-words"].value == pytest.approx(5 / 7) and out["real-words"].higher_is_better
    # held-out " the queen is here ": "the" and "is" are known, "queen" and "here" are not
    assert out["real-words-real"].value == pytest.approx(2 / 4)
    gibberish = metric.compute(_ids([" qzx vvk wrr "]), ctx)
    assert gibberish["real-words"].value == 0.0


def test_real_words_says_when_it_cannot_score():
    ctx = EvalContext(_Corpus(TRAIN))
    with pytest.raises(MetricNotApplicable, match="no whole words"):
        RealWords(RealWords.Config(reference_size=0)).compute(_ids(["abc"]), ctx)
    with pytest.raises(MetricNotApplicable, match="no words"):
        RealWords(RealWords.Config()).compute(_ids([" the "]), EvalContext(_Corpus(["   "])))


def test_registered_for_text_runs(components):
    assert components.registry("metric").get("real-words").requires == {"text"}


def test_real_words_skips_when_the_training_text_cannot_be_read():
    class Tiny(_Corpus):
        def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
            raise ValueError(f"train_size=2 is smaller than batch_size={batch_size}")

    with pytest.raises(MetricNotApplicable, match="train_size=2"):
        RealWords(RealWords.Config()).compute(_ids([" the king is "]), EvalContext(Tiny(TRAIN)))
