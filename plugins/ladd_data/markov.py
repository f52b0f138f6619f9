"""``markov``: text-like character data from an order-k Markov chain fitted on a corpus, with its exact likelihood.

The chain (:mod:`ladd_data.markov_chain`) is fitted on the characters of the corpus files
(Shakespeare's works by default) with Witten–Bell interpolated smoothing down to the uniform
law over the corpus' characters, so every character string has a positive probability.
Sequences of ``seq_len`` characters start in a state drawn from the chain's stationary law.
Training data is regenerated every epoch (batch ``i`` of epoch ``e`` is a pure function of
``(seed, e, i)``), validation data is one fixed set drawn from ``val_seed``, as for ``sawtooth``.

The fit is deterministic and takes about a minute for all of Shakespeare at order 4 (120 k states;
the stationary law by power iteration); it runs on first use and is not cached on disk (the
arrays take ~250 MB).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import Batch, DataConfig, DataSource
from ladd_data._util import mix_seed
from ladd_data.markov_chain import MarkovChain, fit_markov_chain
from ladd_data.shakespeare import corpus_files
from ladd_tokenizers.char import CharTokenizer

__all__ = ["MarkovSource"]


class MarkovSource(DataSource):
    """Sequences from a Witten–Bell character Markov chain of order ``k`` fitted on ``files``.

    Exposes :meth:`log_likelihood` (exact ``log p(x)``, capability ``"known_generator"``) and
    :meth:`entropy_rate` (exact, from the stationary law).  The tokenizer is a ``char``
    tokenizer fitted on the corpus; its ``<unk>``/``<pad>`` ids never occur in the data
    (likelihood ``-inf``) and samplers never emit them.
    """

    class Config(DataConfig):
        name: Literal["markov"] = "markov"
        order: int = Field(4, ge=1, le=8, description="k, the longest context in characters")
        files: list[Path] | None = Field(None, description="corpus text files (default: Shakespeare's works)")
        max_chars: int | None = Field(None, ge=1, description="fit on only the first this many characters")
        train_size: int = Field(32_768, ge=1, description="training sequences per epoch")
        val_size: int = Field(2048, ge=0, description="validation sequences")
        val_seed: int = Field(0, description="seed of the fixed validation set")

    config: Config
    capabilities: ClassVar[frozenset[str]] = frozenset({"known_generator", "text"})

    def __init__(self, config: Config, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, Path(work_dir) if work_dir is not None else Path("."))
        # the run keeps the fitted tokenizer like every text run does (sampling checks it is there)
        self._tokenizer_dir = Path(work_dir) / "tokenizer" if work_dir is not None else None
        self._tokenizer = CharTokenizer()
        self._chain: MarkovChain | None = None
        self._val: Tensor | None = None

    # --------------------------------------------------------------------- the chain
    def corpus_files(self) -> list[Path]:
        """The corpus files: ``files`` or Shakespeare's works."""
        return corpus_files(self.config.files, "markov")

    @property
    def chain(self) -> MarkovChain:
        """The fitted chain (fitted on first use)."""
        if self._chain is None:
            text = "".join(f.read_text(encoding="utf-8") for f in self.corpus_files())
            if self.config.max_chars is not None:
                text = text[: self.config.max_chars]
            self._tokenizer.fit([text])
            if self._tokenizer_dir is not None:
                self._tokenizer.save(self._tokenizer_dir)
            ids = np.asarray(self._tokenizer.encode(text), dtype=np.int64)
            self._chain = fit_markov_chain(ids, self._tokenizer.unk_id, self.config.order)
        return self._chain

    @property
    def tokenizer(self) -> CharTokenizer:
        _ = self.chain
        return self._tokenizer

    def entropy_rate(self) -> float:
        """Exact entropy rate of the chain in nats per character (stationary law, module notes)."""
        return self.chain.entropy_rate()

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats of each row of ``tokens (B, L)`` (float64; ``-inf`` where impossible)."""
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (B, {self.seq_len}), got {tuple(tokens.shape)}")
        return self.chain.log_likelihood(tokens)

    # ---------------------------------------------------------------------- batches
    def sample(self, n: int, seed: int) -> Tensor:
        """``n`` fresh sequences ``(n, L)``, reproducible from ``seed``."""
        return self.chain.sample(n, self.seq_len, torch.Generator().manual_seed(mix_seed("markov-sample", seed)))

    def _batch(self, tokens: Tensor) -> Batch:
        return Batch(tokens, torch.ones_like(tokens, dtype=torch.bool))

    def num_train_batches(self, batch_size: int) -> int:
        """``train_size // batch_size`` (the last incomplete batch is dropped)."""
        n = self.config.train_size // batch_size
        if n == 0:
            raise ValueError(f"train_size={self.config.train_size} is smaller than batch_size={batch_size}")
        return n

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start ..`` of ``epoch``; each drawn from its own generator seeded by ``(seed, epoch, i)``."""
        for i in range(start, self.num_train_batches(batch_size)):
            g = torch.Generator().manual_seed(mix_seed("markov-train", self.seed, epoch, i))
            yield self._batch(self.chain.sample(batch_size, self.seq_len, g))

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        """The fixed validation set in order (the last batch may be smaller)."""
        if self._val is None:
            g = torch.Generator().manual_seed(mix_seed("markov-val", self.config.val_seed))
            self._val = self.chain.sample(self.config.val_size, self.seq_len, g)
        n = math.ceil(self._val.shape[0] / batch_size)
        if max_batches is not None:
            n = min(n, max_batches)
        for b in range(n):
            yield self._batch(self._val[b * batch_size : (b + 1) * batch_size])
