"""``latent-readout``: how many bits/char a *linear* decoder recovers from the clean latent about each chunk.

For each of ``Q`` equal chunks of the sequence (quarters by default), a linear softmax head reads the flattened
latent of a sequence and predicts the identity of every character in that chunk (one distribution per chunk:
its bag of characters).  It is fitted on a train split of the encoded sequences and scored on the held-out
split only::

    bits/char recovered = H(chunk's unigram) - held-out cross-entropy of the head   (bits/char)

where the unigram baseline is the chunk's character distribution estimated on the train split (the same head
without features), scored by the same held-out cross-entropy, so that its estimation error cancels: an
uninformative latent reads 0 within noise (with the train split's plug-in entropy as baseline it reads
slightly negative, more so with few sequences and many rare characters; that number is reported too).  A
histogram of each chunk reads clearly above 0.  The head is L2-regularised; its strength is chosen per chunk
on an inner split of the train rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens

__all__ = ["LatentReadout", "ReadoutResult", "chunk_counts", "histogram_oracle", "latent_readout", "readout_split"]

LN2 = math.log(2.0)
WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
"""Grid of the head's L2 strength (features scaled to unit mean squared norm)."""
MAX_CHUNKS = 16


def chunk_counts(tokens: Tensor, attention_mask: Tensor, vocab_size: int, chunks: int) -> Tensor:
    """Character counts of each chunk ``(N, Q, V)`` float64: chunk ``q`` is positions ``[q L / Q, (q+1) L / Q)``;
    padding and ids outside ``[0, V)`` are not counted."""
    n, length = tokens.shape
    chunk = torch.arange(length, device=tokens.device) * chunks // length  # (L,)
    ok = attention_mask.bool() & (tokens >= 0) & (tokens < vocab_size)  # (N, L)
    flat = chunk.unsqueeze(0) * vocab_size + tokens.clamp(0, vocab_size - 1)  # (N, L) index into Q * V
    counts = torch.zeros(n, chunks * vocab_size, dtype=torch.float64, device=tokens.device)
    counts.scatter_add_(1, flat, ok.to(torch.float64))
    return counts.view(n, chunks, vocab_size).cpu()  # (N, Q, V)


def histogram_oracle(tokens: Tensor, attention_mask: Tensor, vocab_size: int, chunks: int = 4) -> Tensor:
    """The oracle latent ``(N, Q, V)``: slot ``q`` is the normalised character histogram of chunk ``q``."""
    counts = chunk_counts(tokens, attention_mask, vocab_size, chunks)  # (N, Q, V)
    return (counts / counts.sum(dim=-1, keepdim=True).clamp(min=1)).float()


@dataclass(frozen=True)
class ReadoutResult:
    """The read-out of one latent.

    Attributes:
        bits_per_char: mean over chunks of the recovered bits/char (held-out unigram CE - held-out head CE).
        stderr: its standard error over held-out sequences (paired differences).
        per_chunk: recovered bits/char of each chunk.
        unigram_ce_bits: held-out cross-entropy of each chunk's train-split unigram (bits/char).
        heldout_ce_bits: the head's held-out cross-entropy of each chunk (bits/char).
        train_entropy_bits: plug-in entropy of each chunk's train-split unigram (bits/char).
        bits_vs_train_entropy: mean over chunks of ``train_entropy_bits - heldout_ce_bits``.
        weight_decay: the L2 strength chosen for each chunk.
        n_train: train sequences.  n_test: held-out sequences.  rank: latent features the head used.
    """

    bits_per_char: float
    stderr: float
    per_chunk: list[float]
    unigram_ce_bits: list[float]
    heldout_ce_bits: list[float]
    train_entropy_bits: list[float]
    bits_vs_train_entropy: float
    weight_decay: list[float]
    n_train: int
    n_test: int
    rank: int


def readout_split(n: int, train_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """The rows :func:`latent_readout` fits on and the held-out rows it scores, ``(train, test)`` indices."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_train = min(n - 2, max(5, round(train_fraction * n)))
    return perm[:n_train], perm[n_train:]


def _fit(z: Tensor, counts: Tensor, decay: Tensor, max_iter: int) -> tuple[Tensor, Tensor]:
    """L2-regularised multinomial heads, one per (strength, chunk): ``W (G, Q, r, V)``, ``b (G, Q, V)``.

    Minimises, for every strength ``g`` and chunk ``q`` separately (the losses add), the mean cross-entropy per
    character of ``counts (N, Q, V)`` under ``softmax(z W + b)`` plus ``decay[g, q] / 2 * |W|^2`` (and a tiny
    fixed penalty on ``b`` that keeps the logits of characters never seen finite).
    """
    g, r, (_, q, v) = decay.shape[0], z.shape[1], counts.shape
    w = torch.zeros(g, q, r, v, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(g, q, v, dtype=torch.float64, requires_grad=True)
    total = counts.sum(dim=(0, 2)).clamp(min=1)  # (Q,) characters per chunk
    opt = torch.optim.LBFGS(
        [w, b], max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    )

    def closure() -> Tensor:
        opt.zero_grad()
        logp = torch.log_softmax(torch.einsum("nr,gqrv->gnqv", z, w) + b.unsqueeze(1), dim=-1)  # (G, N, Q, V)
        nll = -(logp * counts).sum(dim=(1, 3)) / total  # (G, Q)
        loss = (nll + 0.5 * decay * w.pow(2).sum(dim=(2, 3)) + 5e-5 * b.pow(2).sum(dim=2)).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def _nats(z: Tensor, counts: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """Total nats per row and chunk ``(N, Q)`` of ``counts`` under heads ``w (Q, r, V)``, ``b (Q, V)``."""
    logp = torch.log_softmax(torch.einsum("nr,qrv->nqv", z, w) + b, dim=-1)  # (N, Q, V)
    return -(logp * counts).sum(dim=-1)


@torch.no_grad()
def _features(latents: Tensor, train: Tensor) -> Tensor:
    """Flattened latents standardised by train statistics and projected on the train rows' span ``(N, r)``.

    For an L2-penalised linear head the optimal weights lie in the span of the training features, so this
    projection changes nothing but the cost.  Constant features are dropped; the result has unit mean squared
    norm on the train rows.
    """
    x = latents.reshape(latents.shape[0], -1).double()  # (N, K * d)
    mean, std = x[train].mean(dim=0), x[train].std(dim=0)
    keep = std > 1e-8 * (1 + mean.abs())
    x = (x[:, keep] - mean[keep]) / std[keep]  # (N, F')
    if x.shape[1] == 0:
        return x
    _, s, vh = torch.linalg.svd(x[train], full_matrices=False)
    rank = int((s > 1e-6 * s[0]).sum())
    z = x @ vh[:rank].T  # (N, r)
    return z / z[train].pow(2).sum(dim=1).mean().sqrt().clamp(min=1e-12)


def latent_readout(
    latents: Tensor,
    tokens: Tensor,
    attention_mask: Tensor,
    vocab_size: int,
    *,
    chunks: int = 4,
    train_fraction: float = 0.7,
    seed: int = 0,
    max_iter: int = 200,
) -> ReadoutResult:
    """Bits/char a linear head recovers from ``latents (N, K, d)`` (or ``(N, F)``) about each chunk's characters.

    Rows are split at random (``seed``) into train (``train_fraction``) and held-out; the L2 strength of each
    chunk's head is chosen on an inner 80/20 split of the train rows, the head refitted on all train rows and
    scored on the held-out rows only.  See the module docstring for the definition.  Runs single-threaded (these
    small problems are far faster without thread hand-offs on a busy machine); the thread count is restored.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _readout(latents, tokens, attention_mask, vocab_size, chunks, train_fraction, seed, max_iter)
    finally:
        torch.set_num_threads(threads)


def _readout(
    latents: Tensor,
    tokens: Tensor,
    attention_mask: Tensor,
    vocab_size: int,
    chunks: int,
    train_fraction: float,
    seed: int,
    max_iter: int,
) -> ReadoutResult:
    """:func:`latent_readout` on the current thread settings."""
    n = latents.shape[0]
    if tokens.shape[0] != n or n < 10:
        raise ValueError(f"need the same number (>= 10) of latents and token rows, got {n} and {tokens.shape[0]}")
    train, test = readout_split(n, train_fraction, seed)
    n_train = len(train)
    counts = chunk_counts(tokens, attention_mask, vocab_size, chunks)  # (N, Q, V)
    z = _features(latents.detach().cpu(), train)  # (N, r)
    inner = max(2, round(0.8 * n_train))
    fit_rows, val_rows = train[:inner], train[inner:]
    grid = torch.tensor(WEIGHT_DECAYS, dtype=torch.float64).unsqueeze(1).expand(-1, chunks).contiguous()  # (G, Q)
    with torch.enable_grad():
        w, b = _fit(z[fit_rows], counts[fit_rows], grid, max_iter)
    val_nats = torch.stack([_nats(z[val_rows], counts[val_rows], w[i], b[i]).sum(0) for i in range(len(grid))])
    best = val_nats.argmin(dim=0)  # (Q,) best strength per chunk
    decay = grid[best, torch.arange(chunks)].unsqueeze(0)  # (1, Q)
    with torch.enable_grad():
        w, b = _fit(z[train], counts[train], decay, max_iter)
        w0, b0 = _fit(z[train][:, :0], counts[train], decay, max_iter)  # the unigram: the head without features
    nats = _nats(z[test], counts[test], w[0], b[0])  # (n_test, Q)
    uni_nats = _nats(z[test][:, :0], counts[test], w0[0], b0[0])  # (n_test, Q)
    chars = counts[test].sum(dim=-1)  # (n_test, Q)
    ce_bits = nats.sum(0) / chars.sum(0).clamp(min=1) / LN2  # (Q,)
    uni_bits = uni_nats.sum(0) / chars.sum(0).clamp(min=1) / LN2  # (Q,)
    p = counts[train].sum(0)  # (Q, V) train unigram counts
    p = p / p.sum(-1, keepdim=True).clamp(min=1)
    entropy = -(p * torch.log2(p.clamp(min=1e-300))).sum(-1)  # (Q,) plug-in entropy, bits
    per = uni_bits - ce_bits  # (Q,)
    # stderr of the pooled ratio sum(gain nats) / sum(chars) over held-out rows (delta method, paired gains)
    row_gain, row_chars = ((uni_nats - nats) / LN2).sum(1), chars.sum(1)  # (n_test,)
    ratio = row_gain.sum() / row_chars.sum().clamp(min=1)
    resid = row_gain - ratio * row_chars
    stderr = float(resid.std() / row_chars.mean().clamp(min=1) / math.sqrt(len(test))) if len(test) > 1 else 0.0
    return ReadoutResult(
        bits_per_char=float(per.mean()),
        stderr=stderr,
        per_chunk=per.tolist(),
        unigram_ce_bits=uni_bits.tolist(),
        heldout_ce_bits=ce_bits.tolist(),
        train_entropy_bits=entropy.tolist(),
        bits_vs_train_entropy=float((entropy - ce_bits).mean()),
        weight_decay=decay[0].tolist(),
        n_train=len(train),
        n_test=len(test),
        rank=z.shape[1],
    )


class LatentReadout(ModelMetric):
    """Bits/char a linear head recovers from the encoder's clean latent about each chunk's characters.

    Encodes held-out sequences with the model's encoder (no hiding), then :func:`latent_readout`.  Reports
    ``latent-readout`` (mean over chunks) and ``latent-readout-q{i}`` per chunk.  A diagnostic, never ranked.
    """

    class Config(MetricConfig):
        name: Literal["latent-readout"] = "latent-readout"
        sequences: int = Field(256, ge=20, description="held-out sequences encoded (split again for the probe)")
        chunks: int = Field(4, ge=1, le=MAX_CHUNKS, description="Q, chunks of the sequence read out separately")
        train_fraction: float = Field(0.7, gt=0.0, lt=1.0, description="share of the sequences that fit the head")
        max_iter: int = Field(100, ge=1, description="LBFGS iterations per fit")
        max_vocab: int = Field(512, ge=1, description="larger vocabularies (subword tokens) are not probed")

    config: Config
    requires = frozenset({"model"})
    default = False  # 10-30 s per run and seed: run it by name (``--metrics latent-readout``)
    not_compared = frozenset({"latent-readout", *(f"latent-readout-q{i}" for i in range(MAX_CHUNKS))})

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        model, c = context.model, self.config
        encoder = getattr(getattr(model, "latent", None), "encoder", None)
        if model is None or encoder is None:
            raise MetricNotApplicable("needs a model whose latent channel has an encoder")
        vocab = context.data.vocab_size
        if vocab > c.max_vocab:
            raise MetricNotApplicable(f"the probe predicts each token's identity; V = {vocab} > max_vocab")
        tokens, mask = reference_tokens(context, c.sequences)
        if tokens.shape[0] < 20:
            raise MetricNotApplicable(f"needs at least 20 held-out sequences, the data has {tokens.shape[0]}")
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                ys = [
                    encoder(tokens[i : i + 128].to(model.device), mask[i : i + 128].to(model.device)).float().cpu()
                    for i in range(0, tokens.shape[0], 128)
                ]
        finally:
            encoder.train(was_training)
        res = latent_readout(torch.cat(ys), tokens, mask, vocab, chunks=c.chunks,
                             train_fraction=c.train_fraction, seed=context.seed, max_iter=c.max_iter)  # fmt: skip
        out = {"latent-readout": MetricValue(res.bits_per_char, res.stderr, "bits/char", True)}
        for i, v in enumerate(res.per_chunk):
            out[f"latent-readout-q{i}"] = MetricValue(v, None, "bits/char", True)
        return out
