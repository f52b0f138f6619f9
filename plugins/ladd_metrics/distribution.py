"""Sample-statistics metrics that need only real data: ``swd``, ``token-kl``, ``entropy``, ``repetition``."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, SampleMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_metrics._stats import bootstrap_stderr, mean_stderr

__all__ = [
    "Entropy",
    "Repetition",
    "SlicedWasserstein",
    "TokenKL",
    "random_directions",
    "repeated_ngram_rate",
    "sliced_wasserstein",
    "token_kl",
    "unigram_entropy",
]


def random_directions(dim: int, num: int, seed: int) -> Tensor:
    """``num`` random unit vectors in ``R^dim`` as columns ``(dim, num)`` float64, reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(dim, num, generator=g, dtype=torch.float64)
    return d / d.norm(dim=0, keepdim=True)


def _wasserstein_sorted(pa: Tensor, pb: Tensor, p: int) -> Tensor:
    """``W_p^p`` per column between sorted 1-D empirical samples ``pa (na, P)`` and ``pb (nb, P)``.

    Exact for unequal sizes: the quantile functions are step functions with breaks at ``k / na``
    and ``k / nb``; levels are kept as integers over ``na * nb`` so no rounding merges them.
    """
    na, nb = pa.shape[0], pb.shape[0]
    if na == nb:
        return ((pa - pb).abs() ** p).mean(dim=0)
    q = torch.cat([torch.arange(1, na + 1) * nb, torch.arange(1, nb + 1) * na]).unique()  # sorted, int64
    prev = torch.cat([torch.zeros(1, dtype=q.dtype), q[:-1]])
    widths = (q - prev).to(torch.float64) / (na * nb)  # (Q,)
    mid2 = q + prev  # 2 * midpoint, in units of 1 / (na nb)
    ia, ib = mid2 // (2 * nb), mid2 // (2 * na)
    return (widths[:, None] * (pa[ia] - pb[ib]).abs() ** p).sum(dim=0)


def sliced_wasserstein(a: Tensor, b: Tensor, directions: Tensor, p: int = 2) -> float:
    """Sliced ``p``-Wasserstein distance ``(mean_dirs W_p^p)^(1/p)`` between rows of ``a (na, L)`` and ``b (nb, L)``."""
    pa = torch.sort(a.to(torch.float64) @ directions, dim=0).values  # (na, P)
    pb = torch.sort(b.to(torch.float64) @ directions, dim=0).values  # (nb, P)
    return float(_wasserstein_sorted(pa, pb, p).mean()) ** (1.0 / p)


class SlicedWasserstein(SampleMetric):
    """Sliced Wasserstein distance between generated and held-out id vectors (lower is better).

    Each sequence is a point in ``R^L`` (its token ids, padding ids included); both sets are
    projected on ``projections`` random unit directions drawn from ``seed``, and the exact
    1-D ``W_p`` between the projected empirical distributions is averaged (``W_p^p``) over
    directions.  The spread is a bootstrap over generated sequences (reference fixed).
    """

    class Config(MetricConfig):
        name: Literal["swd"] = "swd"
        projections: int = Field(1000, ge=1, description="random unit projections")
        p: int = Field(2, ge=1, le=2, description="Wasserstein order")
        seed: int = Field(0, description="seed of the projections")
        reference_size: int = Field(4096, ge=1, description="held-out sequences compared with")
        bootstrap: int = Field(32, ge=0, description="bootstrap replicates for the spread (0 = none)")

    config: Config

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        cfg = self.config
        ref, _ = reference_tokens(context, cfg.reference_size)
        if ref.shape[1] != samples.shape[1]:
            raise MetricNotApplicable(f"sample length {samples.shape[1]} != reference length {ref.shape[1]}")
        dirs = random_directions(samples.shape[1], cfg.projections, cfg.seed)
        pa = samples.cpu().to(torch.float64) @ dirs  # (n, P)
        pb = torch.sort(ref.to(torch.float64) @ dirs, dim=0).values

        def stat(idx: Tensor) -> float:
            return float(_wasserstein_sorted(torch.sort(pa[idx], dim=0).values, pb, cfg.p).mean()) ** (1 / cfg.p)

        n = samples.shape[0]
        value = stat(torch.arange(n))
        se = bootstrap_stderr(stat, n, cfg.bootstrap, torch.Generator().manual_seed(cfg.seed + 1))
        return {"swd": MetricValue(value, se, "ids", False)}


def token_kl(real: Tensor, generated: Tensor, vocab_size: int, eps: float) -> float:
    """``KL(real || generated)`` in nats between unigram distributions of two 1-D id tensors.

    Smoothing: each distribution is mixed with the uniform one, ``p = (1 - eps) p_hat + eps / V``,
    so a token never generated costs at most ``log(V / eps)`` instead of infinity.
    """
    pr = torch.bincount(real, minlength=vocab_size).to(torch.float64)
    pg = torch.bincount(generated, minlength=vocab_size).to(torch.float64)
    pr = (1 - eps) * pr / pr.sum() + eps / vocab_size
    pg = (1 - eps) * pg / pg.sum() + eps / vocab_size
    return float((pr * (pr.log() - pg.log())).sum())


class TokenKL(SampleMetric):
    """Unigram token-distribution ``KL(real || generated)`` in nats (lower is better; 0 = same frequencies).

    Real tokens are the non-padding held-out tokens.  Smoothing mixes both distributions with
    the uniform one with weight ``eps`` (see :func:`token_kl`).  Spread: bootstrap over sequences.
    """

    class Config(MetricConfig):
        name: Literal["token-kl"] = "token-kl"
        eps: float = Field(1e-4, gt=0.0, lt=1.0, description="uniform smoothing weight")
        reference_size: int = Field(4096, ge=1, description="held-out sequences compared with")
        bootstrap: int = Field(32, ge=0, description="bootstrap replicates for the spread (0 = none)")
        seed: int = Field(0, description="seed of the bootstrap")

    config: Config

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        cfg = self.config
        ref, mask = reference_tokens(context, cfg.reference_size)
        samples = samples.cpu()
        real = ref[mask]
        v = max(context.data.vocab_size, int(samples.max()) + 1, int(real.max()) + 1)

        def stat(idx: Tensor) -> float:
            return token_kl(real, samples[idx].flatten(), v, cfg.eps)

        n = samples.shape[0]
        se = bootstrap_stderr(stat, n, cfg.bootstrap, torch.Generator().manual_seed(cfg.seed))
        return {"token-kl": MetricValue(stat(torch.arange(n)), se, "nats", False)}


def unigram_entropy(tokens: Tensor, mask: Tensor | None = None) -> Tensor:
    """Entropy in nats of the token-id frequencies within each row of ``tokens (B, L)`` -> ``(B,)`` float64."""
    out = torch.empty(tokens.shape[0], dtype=torch.float64)
    for i, row in enumerate(tokens.cpu()):
        if mask is not None:
            row = row[mask[i].cpu()]
        _, counts = torch.unique(row, return_counts=True)
        p = counts.to(torch.float64) / max(row.numel(), 1)
        out[i] = float(-(p * p.log()).sum())
    return out


class Entropy(SampleMetric):
    """Mean per-sample unigram entropy in nats (the MDLM/ReMDM diversity check).

    Low values expose repetitive samples that game perplexities; ``entropy-real`` gives the
    same statistic on held-out data for comparison.  A sequence using ``V`` ids equally often
    scores ``log V``; a constant one scores 0.
    """

    class Config(MetricConfig):
        name: Literal["entropy"] = "entropy"
        reference_size: int = Field(1024, ge=0, description="held-out sequences for entropy-real (0 = skip)")

    config: Config
    not_compared = frozenset({"entropy", "entropy-real"})

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        out = {"entropy": MetricValue(*mean_stderr(unigram_entropy(samples)), "nats", True)}
        if self.config.reference_size:
            ref, mask = reference_tokens(context, self.config.reference_size)
            out["entropy-real"] = MetricValue(*mean_stderr(unigram_entropy(ref, mask)), "nats", True)
        return out


def repeated_ngram_rate(tokens: Tensor, n: int) -> Tensor:
    """Per row of ``tokens (B, L)``: share of its n-grams that repeat an n-gram seen earlier in the row ``(B,)``."""
    out = torch.zeros(tokens.shape[0], dtype=torch.float64)
    if tokens.shape[1] < n:
        return out
    for i, row in enumerate(tokens.cpu()):
        grams = row.unfold(0, n, 1)  # (L - n + 1, n)
        out[i] = 1.0 - torch.unique(grams, dim=0).shape[0] / grams.shape[0]
    return out


class Repetition(SampleMetric):
    """Repeated-n-gram rate (lower is better) and the share of distinct samples (``unique-samples``).

    ``repetition``: mean over samples of ``1 - distinct n-grams / n-grams`` within each sample;
    a periodic sequence scores close to 1.  On small vocabularies (binary data) repeats are
    unavoidable: compare with real data rather than with 0.
    """

    class Config(MetricConfig):
        name: Literal["repetition"] = "repetition"
        n: int = Field(4, ge=1, description="n-gram size")

    config: Config

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        rate = repeated_ngram_rate(samples, self.config.n)
        unique = torch.unique(samples.cpu(), dim=0).shape[0] / max(samples.shape[0], 1)
        return {
            "repetition": MetricValue(*mean_stderr(rate), f"{self.config.n}-gram share", False),
            "unique-samples": MetricValue(unique, None, "share", True),
        }
