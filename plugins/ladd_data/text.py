"""Local text files loaded offline with HF ``datasets``, tokenized once and cached under the work dir.

Pipeline (run lazily, on first use): read rows (lines, paragraphs or whole
documents) -> deterministic train/val split of the rows -> fit the tokenizer on
the training rows (unless saved in ``work_dir/tokenizer``) -> tokenize -> cache
ids in ``work_dir/cache/<name>-<key>.npz``.  ``"packed"`` concatenates the rows
(with their separators) into one stream cut into ``seq_len`` windows;
``"lines"`` keeps one example per row, truncated and right-padded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from ladd_core.components.data import Batch, DataConfig, DataSource
from ladd_core.components.tokenizers import Tokenizer
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_data._util import atomic_savez, mix_seed

__all__ = ["TextFields", "TextSource", "load_text_rows"]

_SEPARATORS = {"line": "\n", "paragraph": "\n\n", "document": ""}
_ENCODE_CHUNK = 1000
_CACHE_VERSION = 1


class TextFields(DataConfig):
    """Fields shared by every text source."""

    mode: Literal["packed", "lines"] = Field("packed", description="one token stream cut into windows, or one row each")
    sample_by: Literal["line", "paragraph", "document"] = Field("paragraph", description="what one row is")
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="share of rows held out for validation")
    split_seed: int = Field(0, description="seed of the train/val split (independent of the experiment seed)")
    max_chars: int | None = Field(None, ge=1, description="keep only the first this many characters (quick runs)")
    tokenizer: Annotated[ComponentConfig, Ref("tokenizer")] = ref("tokenizer", "char")


def load_text_rows(files: list[Path], sample_by: str, cache_dir: Path) -> list[str]:
    """Rows of ``files`` (in order) via ``datasets.load_dataset("text")``, strictly offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets.config
    from datasets import load_dataset

    # the flags are read when `datasets` is first imported; force them if it was imported earlier
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True

    names = ", ".join(str(f) for f in files)
    if all(f.stat().st_size == 0 for f in files):
        raise ValueError(f"no text in {names} (empty files)")
    try:
        ds = load_dataset(
            "text",
            data_files=[str(f) for f in files],
            split="train",
            sample_by=sample_by,
            cache_dir=str(cache_dir),
        )
    except Exception as exc:  # datasets wraps decode errors of binary or Latin-1 files in its own types
        cause = exc.__cause__ or exc.__context__ or exc
        raise ValueError(f"cannot read text files {names} as UTF-8 text: {type(cause).__name__}: {cause}") from None
    return list(ds["text"])


class TextSource(DataSource):
    """Language-model data from local text files.

    Args:
        config: the component's ``Config``.
        seed: the experiment seed (drives the per-epoch order).
        work_dir: run directory for the tokenizer files and token caches.
        tokenizer: the built tokenizer (fitted here when it needs it).
    """

    class Config(TextFields):
        name: Literal["text"] = "text"
        files: list[Path] = Field(..., min_length=1, description="text files, read in order")

    config: TextFields
    capabilities: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: TextFields, seed: int, work_dir: Path, tokenizer: Tokenizer) -> None:
        super().__init__(config, seed, Path(work_dir))
        self._tokenizer = tokenizer
        self._data: dict[str, np.ndarray] | None = None
        self._tok_ready = False

    # --------------------------------------------------------------- preparation
    def source_files(self) -> list[Path]:
        """The text files to read."""
        return [Path(f).expanduser().resolve() for f in self.config.files]  # type: ignore[attr-defined]

    def _cache_key(self, files: list[Path]) -> str:
        stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        payload: dict[str, Any] = {
            "version": _CACHE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "tokenizer": [type(self._tokenizer).__qualname__, self._tokenizer.config.model_dump(mode="json")],
            "files": stats,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def _prepare(self) -> dict[str, np.ndarray]:
        if self._data is not None:
            return self._data
        files = self.source_files()
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"text files not found: {', '.join(missing)}")
        tok_dir = self.work_dir / "tokenizer"
        tok_ready = self._tokenizer.load(tok_dir) or not self._tokenizer.needs_fit
        cache = self.work_dir / "cache" / f"{self.config.name}-{self._cache_key(files)}.npz"
        if tok_ready and cache.is_file():
            with np.load(cache) as z:
                self._data = {k: z[k] for k in z.files}
            return self._data
        rows = self._read_rows(files)
        if not any(r.strip() for r in rows):
            raise ValueError(f"{self.config.name}: no text in {', '.join(str(f) for f in files)} (empty files?)")
        train_rows, val_rows = self._split(rows)
        if not tok_ready:
            self._tokenizer.fit(iter(train_rows))
            self._tokenizer.save(tok_dir)
        self._data = {**self._encode("train", train_rows), **self._encode("val", val_rows)}
        atomic_savez(cache, **self._data)
        return self._data

    def _read_rows(self, files: list[Path]) -> list[str]:
        cfg = self.config
        rows = load_text_rows(files, cfg.sample_by, self.work_dir / "cache" / "hf")
        sep = _SEPARATORS[cfg.sample_by] if cfg.mode == "packed" else ""
        # lines: drop blank rows; packed: restore the separator the reader stripped
        rows = [r for r in rows if r.strip()] if cfg.mode == "lines" else [r + sep for r in rows]
        if cfg.max_chars is not None:
            kept, total = [], 0
            for r in rows:
                if total >= cfg.max_chars:
                    break
                kept.append(r[: cfg.max_chars - total])
                total += len(kept[-1])
            rows = kept
        return rows

    def _split(self, rows: list[str]) -> tuple[list[str], list[str]]:
        """Rows held out by a seeded permutation of row indices; both parts keep file order."""
        n = len(rows)
        # at least one validation row when asked for one, at least one training row
        n_val = max(min(max(round(self.config.val_fraction * n), 1), n - 1), 0) if self.config.val_fraction > 0 else 0
        perm = np.random.default_rng(mix_seed("text-split", self.config.split_seed)).permutation(n)
        is_val = np.zeros(n, dtype=bool)
        is_val[perm[:n_val]] = True
        return [r for r, v in zip(rows, is_val) if not v], [r for r, v in zip(rows, is_val) if v]

    def _encode(self, split: str, rows: list[str]) -> dict[str, np.ndarray]:
        ids: list[list[int]] = []
        for i in range(0, len(rows), _ENCODE_CHUNK):
            ids.extend(self._tokenizer.encode_batch(rows[i : i + _ENCODE_CHUNK]))
        L = self.seq_len
        if self.config.mode == "packed":
            stream = np.fromiter((t for seq in ids for t in seq), dtype=np.int32)
            n = len(stream) // L
            return {split: stream[: n * L].reshape(n, L)}  # (T,) -> (n, L)
        pad = self._tokenizer.pad_id if self._tokenizer.pad_id is not None else 0
        arr = np.full((len(ids), L), pad, dtype=np.int32)
        lengths = np.zeros(len(ids), dtype=np.int32)
        for r, seq in enumerate(ids):
            seq = seq[:L]
            arr[r, : len(seq)] = seq
            lengths[r] = len(seq)
        return {split: arr, f"{split}_len": lengths}

    # -------------------------------------------------------------------- access
    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer; a saved (or untrained) one is used as is, without reading the corpus (sampling)."""
        if self._data is None and not self._tok_ready:
            self._tok_ready = self._tokenizer.load(self.work_dir / "tokenizer") or not self._tokenizer.needs_fit
        if self._data is None and not self._tok_ready:
            self._prepare()
        return self._tokenizer

    def num_examples(self, split: Literal["train", "val"]) -> int:
        """Number of windows (packed) or rows (lines) in ``split``."""
        return int(self._prepare()[split].shape[0])

    def _batch(self, split: str, idx: np.ndarray) -> Batch:
        data = self._prepare()
        tokens = torch.from_numpy(data[split][idx].astype(np.int64))  # (b, L)
        if f"{split}_len" in data:
            lengths = torch.from_numpy(data[f"{split}_len"][idx].astype(np.int64))  # (b,)
            mask = torch.arange(self.seq_len)[None, :] < lengths[:, None]  # (b, L)
        else:
            mask = torch.ones_like(tokens, dtype=torch.bool)
        return Batch(tokens, mask)

    def num_train_batches(self, batch_size: int) -> int:
        """Full batches per epoch (the last incomplete batch is dropped)."""
        total = self.num_examples("train")
        n = total // batch_size
        if n == 0:
            raise ValueError(f"{self.config.name}: {total} training examples, fewer than batch_size={batch_size}")
        return n

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start ..`` of a permutation seeded by ``(seed, epoch)``; skipped batches cost nothing."""
        n_batches = self.num_train_batches(batch_size)
        g = torch.Generator().manual_seed(mix_seed("text-epoch", self.seed, epoch))
        perm = torch.randperm(self.num_examples("train"), generator=g).numpy()
        for b in range(start, n_batches):
            yield self._batch("train", perm[b * batch_size : (b + 1) * batch_size])

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        """Validation examples in file order (the last batch may be smaller)."""
        n_val = self.num_examples("val")
        n = math.ceil(n_val / batch_size)
        if max_batches is not None:
            n = min(n, max_batches)
        for b in range(n):
            yield self._batch("val", np.arange(b * batch_size, min((b + 1) * batch_size, n_val)))
