"""The latent-plumbing check: does a channel + backbone pair carry an informative latent to the tokens?

A latent model can be wired so that the token network never sees the latent (a backbone that drops its
latent stream, a channel that scrambles the slots, a time that makes the latent pure noise).  Its loss
still trains -- to MDLM's.  :func:`check_latent_plumbing` replaces the channel's encoder by an
:class:`OracleEncoder` (a fixed, deterministic and fully informative latent), trains the tiny model for a
small budget on random sequences, and measures the held-out latent gain: a pair whose latent path works
learns to read the oracle (random tokens have nothing else to learn), one that drops or scrambles it
stays at 0.  :class:`~ladd_core.testing.contracts.LatentContract` runs it on every channel.

Nothing here imports :mod:`pytest` or :mod:`hypothesis`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import Batch
from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_core.diagnostics import latent_health
from ladd_core.model import LaddModel

__all__ = ["OracleEncoder", "PlumbingResult", "check_latent_plumbing", "random_sequences"]


class OracleEncoder(Encoder):
    """A frozen encoder whose latent determines ``x_0``: slot ``k`` holds the tokens of the ``k``-th chunk.

    The ``L`` positions are cut into ``K`` chunks of ``c = ceil(L / K)``; slot ``k`` is ``2 onehot - 1`` of its
    chunk's ``c`` tokens (``c V`` values), written into its ``d`` coordinates -- as they are when ``c V <= d``
    (the rest 0), else through a fixed Gaussian ``(d, c V)`` map drawn from ``seed`` (still injective while
    ``d >= c V`` fails only by rank).  Local and linear, so a small network learns to read it quickly.
    Hidden and padding positions contribute 0.  Not trainable: it is never optimised or saved.
    """

    class Config(EncoderConfig):
        name: Literal["oracle"] = "oracle"
        seed: int = Field(0, description="seed of the fixed projection (used when a chunk does not fit a slot)")

    trainable = False
    config: Config

    def __init__(self, config: Config, vocab_size: int, seq_len: int) -> None:
        super().__init__(config, vocab_size, seq_len)
        k, d = config.num_slots, config.dim
        self.chunk = -(-seq_len // k)  # c = ceil(L / K)
        width = self.chunk * vocab_size
        if width <= d:
            proj = torch.eye(d, width).expand(k, d, width).clone()  # (K, d, c V): copy into the first dims
        else:
            g = torch.Generator().manual_seed(config.seed)
            proj = torch.randn(k, d, width, generator=g) / width**0.5  # (K, d, c V)
        self.register_buffer("proj", proj, persistent=False)

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        b, length = x0.shape
        k, c, v = self.num_slots, self.chunk, self.vocab_size
        keep = attention_mask.to(torch.bool)
        if hide is not None:
            keep = keep & ~hide.to(torch.bool)
        signs = 2.0 * F.one_hot(x0.clamp(0, v - 1), v).float() - 1.0  # (B, L, V) in {-1, 1}
        signs = signs * keep.unsqueeze(-1).float()  # (B, L, V), hidden rows 0
        padded = F.pad(signs, (0, 0, 0, k * c - length))  # (B, K c, V): chunks past the end are 0
        chunks = padded.reshape(b, k, c * v)  # (B, K, c V)
        return torch.einsum("kdw,bkw->bkd", self.proj, chunks)  # (B, K, d)


def random_sequences(n: int, vocab_size: int, seq_len: int, seed: int) -> Batch:
    """``n`` i.i.d. uniform sequences (no padding): data whose only learnable structure is in a latent."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab_size, (n, seq_len), generator=g)
    return Batch(tokens, torch.ones(n, seq_len, dtype=torch.bool))


@dataclass(frozen=True)
class PlumbingResult:
    """What :func:`check_latent_plumbing` measured on held-out sequences (bits per noised token).

    Attributes:
        gain: the latent gain at training times (the latent as the channel's training feeds it).
        clean_gain: the gain with every token masked and the clean latent.
        threshold: the gain a working pair must exceed.
    """

    gain: float
    clean_gain: float
    threshold: float

    @property
    def passed(self) -> bool:
        """Whether the latent path carried the oracle's information to the token network."""
        return max(self.gain, self.clean_gain) > self.threshold


def check_latent_plumbing(
    model: LaddModel,
    *,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    threshold: float = 0.05,
    seed: int = 0,
    stage_from: Callable[[int], int] | None = None,
) -> PlumbingResult:
    """Train ``model`` with an :class:`OracleEncoder` in place of its channel's encoder; measure the gain.

    The model's channel must hold its encoder as ``model.latent.encoder`` (every
    :class:`~ladd_core.components.latent_process.DiffusedLatent` does); it is replaced in place by an
    oracle of the same ``K`` and ``d``.  Training uses AdamW on the parameters of each stage
    (``stage_from(step)``, default: stage 1 for the first half, stage 2 after) on 512 random sequences of
    the model's length and vocabulary; the gain is measured on 128 others.

    Args:
        model: a freshly built (tiny) model; modified in place.
        steps, batch_size, lr: the training budget.
        threshold: the held-out gain (bits per noised token) a working latent path exceeds.
        seed: seeds the data, the oracle and the training draws.
        stage_from: the stage of each step.

    Raises:
        TypeError: the channel has no ``encoder`` to replace.
    """
    channel = model.latent
    old = getattr(channel, "encoder", None)
    if not isinstance(old, Encoder):
        raise TypeError(f"{type(channel).__name__} holds no Encoder at .encoder; the plumbing check cannot run")
    vocab = model.process.vocab_size
    cfg = OracleEncoder.Config(num_slots=old.num_slots, dim=old.dim, seed=seed)
    channel.encoder = OracleEncoder(cfg, vocab, model.seq_len).to(model.device)
    train = random_sequences(512, vocab, model.seq_len, seed)
    held = random_sequences(128, vocab, model.seq_len, seed + 1)
    stage_of = stage_from or (lambda step: 1 if step < steps // 2 else 2)
    g = torch.Generator().manual_seed(seed)
    stage, opt = 0, None
    model.train()
    for step in range(steps):
        if stage_of(step) != stage:
            stage = stage_of(step)
            opt = torch.optim.AdamW(model.set_stage(stage), lr=lr, weight_decay=0.0)
        assert opt is not None
        idx = torch.randint(0, train.tokens.shape[0], (batch_size,), generator=g)
        loss = model.loss(Batch(train.tokens[idx], train.attention_mask[idx]), g).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    health = latent_health(model, held, torch.Generator().manual_seed(seed + 2))
    return PlumbingResult(
        float(health.get("latent_gain_bpt", 0.0)), float(health.get("latent_gain_clean_bpt", 0.0)), threshold
    )
