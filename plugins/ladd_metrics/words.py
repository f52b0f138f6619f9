"""Share of generated words that are real words of the training text (``real-words``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, SampleMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_metrics._stats import ratio_stderr

__all__ = ["RealWords", "inner_words", "word_share"]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters, with inner apostrophes ("o'er", "king's")


def inner_words(text: str) -> list[str]:
    """The lower-cased words of ``text`` that lie wholly inside it.

    A sequence cut from running text may start or end mid-word, so a word touching either end of the string
    is dropped (a generated sample is judged like the held-out text it imitates).
    """
    out = []
    for m in _WORD.finditer(text):
        if m.start() > 0 and m.end() < len(text):
            out.append(m.group().lower())
    return out


def word_share(texts: Iterable[str], lexicon: frozenset[str]) -> tuple[Tensor, Tensor]:
    """Per text: how many of its inner words are in ``lexicon``, and how many inner words it has ``(n,), (n,)``."""
    hits, counts = [], []
    for text in texts:
        words = inner_words(text)
        hits.append(sum(w in lexicon for w in words))
        counts.append(len(words))
    return torch.tensor(hits, dtype=torch.float64), torch.tensor(counts, dtype=torch.float64)


class RealWords(SampleMetric):
    """Share of the words in decoded samples that occur in the run's training text (higher is better).

    The lexicon is every word of the first ``lexicon_sequences`` training sequences.  ``real-words-real`` is
    the same share on held-out text (below 1: held-out text has words the lexicon lacks, e.g. names), the
    ceiling to read a sample's share against.  Words are runs of letters with inner apostrophes, lower-cased;
    words cut by a sequence boundary are not counted.  It says whether samples spell words, not whether the
    words make sense: read it next to ``gen-ppl`` and ``entropy``.
    """

    class Config(MetricConfig):
        name: Literal["real-words"] = "real-words"
        lexicon_sequences: int = Field(20000, ge=1, description="training sequences whose words form the lexicon")
        reference_size: int = Field(256, ge=0, description="held-out sequences for real-words-real (0 = skip)")

    config: Config
    requires = frozenset({"text"})
    not_compared = frozenset({"real-words-real"})

    def lexicon(self, context: EvalContext) -> frozenset[str]:
        """The words of the training text (built once per run)."""

        def build() -> frozenset[str]:
            words: set[str] = set()
            n = 0
            try:
                for batch in context.data.train_batches(min(64, self.config.lexicon_sequences), epoch=0):
                    for text in context.data.decode(batch.tokens.cpu(), batch.attention_mask.cpu()):
                        words.update(inner_words(text))
                    n += batch.tokens.shape[0]
                    if n >= self.config.lexicon_sequences:
                        break
            except ValueError as exc:  # e.g. fewer training sequences than one batch
                raise MetricNotApplicable(f"cannot read the training text for the lexicon: {exc}") from None
            return frozenset(words)

        return context.cached("real-words", self.config.lexicon_sequences, build)

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        lexicon = self.lexicon(context)
        if not lexicon:
            raise MetricNotApplicable("the training text has no words (no letters between separators)")
        hits, counts = word_share(context.data.decode(samples.cpu()), lexicon)
        if float(counts.sum()) == 0:
            raise MetricNotApplicable("the decoded samples contain no whole words")
        out = {"real-words": MetricValue(*ratio_stderr(hits, counts), "share of words", True)}
        if self.config.reference_size:
            ref, mask = reference_tokens(context, self.config.reference_size)
            real = context.cached(
                "real-words-real",
                self.config.reference_size,
                lambda: ratio_stderr(*word_share(context.data.decode(ref, mask), lexicon)),
            )
            out["real-words-real"] = MetricValue(*real, "share of words", True)
        return out
