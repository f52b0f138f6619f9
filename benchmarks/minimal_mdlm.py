"""The yardstick: a hand-written MDLM training step in plain PyTorch, and a synthetic token source.

:class:`MinimalMDLM` is what one would write without the framework: linear schedule, absorbing
mask, unweighted masked cross-entropy, AdamW with linear warm-up, gradient clipping and an EMA
of the weights -- the same work as a ``ladd`` MDLM step, without registries, configs, chunking,
NaN checks or bookkeeping.  It trains a given network (a copy of the framework's backbone), so
both sides run identical kernels.

:class:`BenchTokens` is a ``data`` component (registered by :data:`PLUGIN`, not installed) that
yields uniform random tokens of any vocabulary, for throughput at realistic vocabulary sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ladd_core import hookimpl
from ladd_core.components.data import Batch, DataConfig, DataSource
from ladd_core.components.tokenizers import Tokenizer, TokenizerConfig

__all__ = ["PLUGIN", "BenchTokens", "MinimalMDLM", "minimal_ancestral"]


class MinimalMDLM:
    """One MDLM optimisation step on ``net`` (``(x_t, None, t, None, mask) -> logits``).

    Args:
        net: the denoiser (token ids ``0..V``, id ``V`` is the mask).
        mask_id: ``V``.
        lr: AdamW learning rate.
        warmup: linear warm-up steps.
        clip: max gradient norm.
        ema: EMA decay of the weights.
        bf16: run the network under bf16 autocast.
    """

    def __init__(
        self,
        net: nn.Module,
        mask_id: int,
        lr: float = 2e-3,
        warmup: int = 200,
        clip: float = 1.0,
        ema: float = 0.99,
        bf16: bool = False,
    ) -> None:
        self.net = net.train()
        self.mask_id = mask_id
        self.clip = clip
        self.decay = ema
        self.bf16 = bf16
        params = [p for p in net.parameters() if p.requires_grad]
        self.params = params
        self.opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / warmup))
        self.shadow = [p.detach().clone() for p in params]

    def step(self, x0: Tensor, attn: Tensor) -> Tensor:
        """Train on ``x0 (B, L)`` with real-token mask ``attn (B, L)``; returns the (detached) loss."""
        b, n = x0.shape
        t = torch.rand(b, device=x0.device) * (1 - 1e-3) + 1e-3  # (B,)
        masked = (torch.rand(b, n, device=x0.device) < t[:, None]) & attn  # (B, L): alpha(t) = 1 - t
        xt = torch.where(masked, torch.full_like(x0, self.mask_id), x0)
        dev = x0.device.type
        ctx = torch.autocast(dev, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with ctx:
            logits = self.net(xt, None, t, None, attn).token_logits  # (B, L, V+1)
        logits = logits.float().index_fill(-1, torch.tensor([self.mask_id], device=x0.device), float("-inf"))
        nll = F.cross_entropy(logits.flatten(0, 1), x0.flatten(), reduction="none").view(b, n)  # (B, L)
        loss = ((nll * masked).sum(1) / attn.sum(1).clamp_min(1)).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, self.params, 1.0 - self.decay)
        return loss.detach()


@torch.inference_mode()
def minimal_ancestral(
    net: nn.Module, mask_id: int, batch: int, length: int, steps: int, generator: torch.Generator,
    t_final: float = 1e-5,
) -> Tensor:  # fmt: skip
    """The ancestral sampler one writes without the framework (MDLM's, with its float64 Gumbel-max draw), for a
    linear schedule ``alpha(t) = 1 - t``: the yardstick of a sampling step's cost.

    Step ``t -> s``: from the network's ``p(x_0 | x_t)`` (softmax without the mask column), a masked id becomes
    ``v`` w.p. ``p_v (t - s) / t`` and stays masked w.p. ``s / t``; one Gumbel-max draw over those ``V + 1`` weights
    per position.  Then one call at ``t_final`` fills the remaining masks.  Returns ``(batch, length)`` ids.
    """
    dev = next(net.parameters()).device
    x = torch.full((batch, length), mask_id, dtype=torch.long, device=dev)
    ts = torch.linspace(1.0, t_final, steps + 1).tolist()
    stay = torch.empty(batch, length, 1, dtype=torch.float64, device=dev)
    for i in range(steps + 1):
        t = ts[min(i, steps)]
        logits = net(x, None, torch.full((batch,), t, device=dev), None, None).token_logits  # (B, L, V + 1)
        p = torch.softmax(logits[..., :mask_id].double(), dim=-1)  # (B, L, V)
        if i < steps:
            s = ts[i + 1]
            q = torch.cat([p * ((t - s) / t), stay.fill_(s / t)], dim=-1)  # (B, L, V + 1): id V = stay masked
        else:
            q = p  # the final fill
        g = torch.rand(q.shape, generator=generator, dtype=torch.float64, device=dev).log_().neg_()  # Exp(1)
        x = torch.where(x == mask_id, (q / g).argmax(dim=-1), x)  # Gumbel-max: argmax q / Exp(1)
    return x


class _VocabOnly(Tokenizer):
    """A tokenizer stand-in: ids are their own text (a real :class:`Tokenizer`, so every default applies)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__(TokenizerConfig(name="bench-tokens"))
        self._vocab_size = vocab_size

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def encode(self, text: str) -> list[int]:
        return [int(s) for s in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))


class BenchTokens(DataSource):
    """Uniform random tokens: batch ``i`` of epoch ``e`` is a function of ``(seed, e, i)``."""

    class Config(DataConfig):
        name: Literal["bench-tokens"] = "bench-tokens"
        vocab: int = Field(256, ge=2, description="vocabulary size")
        train_size: int = Field(1 << 16, ge=1, description="sequences per epoch")

    config: Config
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Config, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, Path(work_dir or "."))
        self._tok = _VocabOnly(config.vocab)

    @property
    def tokenizer(self) -> Any:
        return self._tok

    def num_train_batches(self, batch_size: int) -> int:
        return self.config.train_size // batch_size

    def _batch(self, batch_size: int, seed: int) -> Batch:
        g = torch.Generator().manual_seed(seed)
        tokens = torch.randint(self.config.vocab, (batch_size, self.seq_len), generator=g)
        return Batch(tokens, torch.ones(batch_size, self.seq_len, dtype=torch.bool))

    def train_batches(self, batch_size: int, epoch: int, start: int = 0) -> Iterator[Batch]:
        for i in range(start, self.num_train_batches(batch_size)):
            yield self._batch(batch_size, hash((self.seed, epoch, i)) & 0x7FFFFFFF)

    def val_batches(self, batch_size: int, max_batches: int | None = None) -> Iterator[Batch]:
        for i in range(max_batches or 4):
            yield self._batch(batch_size, 10_000_000 + i)


class _Plugin:
    @hookimpl
    def ladd_register_data_sources(self, register: Any) -> None:
        register("bench-tokens", BenchTokens)


PLUGIN = ("bench", _Plugin())
"""``load_plugins(extra_plugins=[PLUGIN])`` adds the ``bench-tokens`` data source."""
