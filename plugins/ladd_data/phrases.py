"""``phrases``: text with a *discrete* hidden cause and many classes -- noisy copies of real phrases.

The text-alphabet sibling of ``mixture`` (issues #30, #34).  Generator (:class:`~ladd_data.phrase_model.PhraseModel`):

1. The corpus (Shakespeare's works, or ``files``) is read and every run of whitespace becomes one space.
2. ``classes`` phrases of ``seq_len`` consecutive characters are cut from it at word starts (position 0 or
   right after a space) drawn by a permutation seeded by ``phrase_seed``; duplicates are skipped, so the
   phrases are distinct.
3. Vocabulary: the sorted set of characters the phrases use, as a ``char`` tokenizer (then ``<unk>``,
   ``<pad>``, which never occur).  It is a pure function of the config, saved to ``work_dir/tokenizer``.
4. Background law ``u``: the corpus' character frequencies restricted to that vocabulary, renormalised
   (so its support is exactly the vocabulary and every data id has positive probability).
5. A sequence: class ``c`` uniform over the ``C`` phrases, then each position independently the phrase's
   character with probability ``1 - noise``, else a draw from ``u``.

``log p(x) = logsumexp_c sum_l log q_cl(x_l) - log C`` (float64) is exact, so ``true-nll`` applies;
``log_marginal`` gives exact prompt likelihoods.  A perfect MDLM at N = 1 draws every position from its
marginal ``mean_c q_cl`` -- a blur of 64 phrases -- whose samples match no phrase; a latent that carries
the class samples one noisy phrase.  Defaults (L = 64, C = 64, noise 0.15, 62 characters): data entropy 0.927
nats (1.34 bits) per character; the ideal factorized sampler's true NLL is 4.90x that
(``benchmarks/phrases_reference.py``, docs/datasets.md); the ideal class-conditional factorized sampler
is the data itself (ratio 1.0).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import DataConfig
from ladd_data._synthetic import SyntheticSource
from ladd_data._util import mix_seed
from ladd_data.phrase_model import Estimate, PhraseModel
from ladd_data.shakespeare import corpus_files
from ladd_tokenizers.char import CharTokenizer

__all__ = ["PhrasesSource", "cut_phrases", "read_corpus"]


def read_corpus(files: list[Path]) -> str:
    """The files' text concatenated, every whitespace run (newlines included) collapsed to one space."""
    return " ".join(" ".join(f.read_text(encoding="utf-8") for f in files).split())


def _codepoints(text: str) -> np.ndarray:
    """The code points of ``text``, ``(len(text),)`` uint32."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def cut_phrases(text: str, classes: int, length: int, seed: int) -> list[str]:
    """``classes`` distinct substrings of ``length`` characters starting at word starts of ``text``.

    Raises:
        ValueError: the text is shorter than ``length`` or has fewer distinct such phrases than ``classes``.
    """
    if len(text) < length:
        raise ValueError(f"phrases: seq_len={length} is longer than the corpus ({len(text)} characters)")
    spaces = np.flatnonzero(_codepoints(text) == ord(" "))
    starts = torch.from_numpy(np.concatenate([[0], spaces + 1]).astype(np.int64))
    starts = starts[starts <= len(text) - length]
    order = torch.randperm(starts.numel(), generator=torch.Generator().manual_seed(mix_seed("phrases", seed)))
    out: list[str] = []
    seen: set[str] = set()
    for i in starts[order].tolist():
        phrase = text[i : i + length]
        if phrase not in seen:
            seen.add(phrase)
            out.append(phrase)
            if len(out) == classes:
                return out
    raise ValueError(
        f"phrases: the corpus has only {len(out)} distinct {length}-character phrases at word starts, "
        f"fewer than classes={classes}"
    )


class PhrasesSource(SyntheticSource):
    """Noisy copies of ``classes`` real phrases of ``seq_len`` characters (exact likelihood; module notes)."""

    class Config(DataConfig):
        name: Literal["phrases"] = "phrases"
        seq_len: int = Field(64, ge=1, description="L, characters per sequence (= phrase length)")
        classes: int = Field(64, ge=1, description="C, number of hidden phrases")
        noise: float = Field(0.15, ge=0.0, lt=1.0, description="probability a character is a background draw")
        phrase_seed: int = Field(0, description="seed of the phrase offsets (the data-generating process)")
        files: list[Path] | None = Field(None, description="corpus text files (default: Shakespeare's works)")
        train_size: int = Field(65_536, ge=1, description="training sequences per epoch")
        val_size: int = Field(4096, ge=0, description="validation sequences")
        val_seed: int = Field(0, description="seed of the fixed validation set")

    config: Config
    stream: ClassVar[str] = "phrases"
    capabilities: ClassVar[frozenset[str]] = frozenset({"known_generator", "text"})

    def __init__(self, config: Config, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, work_dir)
        self._tokenizer_dir = Path(work_dir) / "tokenizer" if work_dir is not None else None
        self._entropy: dict[tuple[int, int], Estimate] = {}

    # ----------------------------------------------------------------- generator
    def corpus_files(self) -> list[Path]:
        """The corpus files: ``files`` or Shakespeare's works."""
        return corpus_files(self.config.files, "phrases")

    @cached_property
    def _built(self) -> tuple[CharTokenizer, PhraseModel, list[str]]:
        c = self.config
        text = read_corpus(self.corpus_files())
        phrases = cut_phrases(text, c.classes, c.seq_len, c.phrase_seed)
        tok = CharTokenizer()
        tok.fit(phrases)
        if self._tokenizer_dir is not None:
            tok.save(self._tokenizer_dir)
        alphabet = tok.unk_id  # data ids 0 .. V-1
        ids = torch.tensor([tok.encode(p) for p in phrases], dtype=torch.long)  # (C, L)
        points, counts = np.unique(_codepoints(text), return_counts=True)
        count = dict(zip(points.tolist(), counts.tolist(), strict=True))
        freq = torch.tensor([count[ord(tok.decode([i]))] for i in range(alphabet)], dtype=torch.float64)  # (V,)
        model = PhraseModel(ids, freq / freq.sum(), c.noise, tok.vocab_size)
        return tok, model, phrases

    @property
    def tokenizer(self) -> CharTokenizer:
        return self._built[0]

    @property
    def model(self) -> PhraseModel:
        """The generator (phrases, background law, exact scoring)."""
        return self._built[1]

    @property
    def phrases(self) -> list[str]:
        """The ``C`` phrases, in class order."""
        return self._built[2]

    # ------------------------------------------------------------------ sampling
    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` sequences ``(n, L)`` long and their classes ``(n,)``."""
        return self.model.sample(n, generator)

    # ------------------------------------------------------------------- scoring
    def class_log_likelihood(self, tokens: Tensor) -> Tensor:
        """``log p(x | c)`` for every class, ``(B, C)`` float64."""
        return self.model.class_log_likelihood(tokens)

    def class_posterior(self, tokens: Tensor) -> Tensor:
        """``p(c | x)``, ``(B, C)`` float64."""
        return self.model.class_posterior(tokens)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats, ``(B,)`` float64 (``-inf`` for rows holding ``<unk>``/``<pad>``)."""
        return self.model.log_likelihood(tokens)

    def log_marginal(self, tokens: Tensor, observed: Tensor) -> Tensor:
        """Exact ``log p(x_O)`` in nats ``(B,)`` of the ``observed (B, L)`` positions."""
        return self.model.log_marginal(tokens, observed)

    # ----------------------------------------------------------------- reference
    def entropy_rate(self) -> float:
        """``H(X) / L`` in nats per character (``true-nll`` reports it as ``entropy-rate``).

        Exact but for the ``H(C|X)`` term, a fixed-seed Monte Carlo of 4096 sequences (standard error
        ``entropy().stderr``, below 1e-4 nats at the defaults).
        """
        return self.entropy().value

    def entropy(self, n: int = 4096, seed: int = 0) -> Estimate:
        """``H(X)`` in nats per character (:meth:`PhraseModel.entropy`), cached per ``(n, seed)``."""
        if (n, seed) not in self._entropy:
            self._entropy[n, seed] = self.model.entropy(n, seed)
        return self._entropy[n, seed]

    def factorized_ratio(self, n: int = 4096, seed: int = 0) -> Estimate:
        """The ideal factorized sampler's (a perfect MDLM at N = 1) expected true NLL over ``H(X)``."""
        return self.model.factorized_ratio(n, seed)
