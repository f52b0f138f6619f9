"""Metrics under a known data-generating process (``requires = {"known_generator"}``): ``true-nll``, ``phase-ks``."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, SampleMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_metrics._stats import mean_stderr, ratio_of_means

__all__ = ["PhaseKS", "TrueNLL", "bits_per_token", "ks_pvalue", "ks_uniform"]

LN2 = math.log(2.0)


def bits_per_token(context: EvalContext, tokens: Tensor) -> Tensor:
    """``-log2 p(x) / L`` of each row under the true process, ``(B,)`` float64."""
    return -context.data.log_likelihood(tokens.cpu()).to(torch.float64) / (tokens.shape[1] * LN2)


class TrueNLL(SampleMetric):
    """Mean NLL of the samples under the true process, in bits per token (lower is better).

    Also reports ``data-entropy``, the same quantity on held-out real sequences (a Monte-Carlo
    estimate of the process entropy, since those are draws from it), and ``true-nll-ratio``,
    their ratio (1.0 = samples as likely as real data; a product-of-marginals sampler scores
    about 1.65 on the sawtooth).  Spreads are standard errors over sequences; the ratio's
    combines both by the delta method.  A source that knows its exact entropy rate (``markov``:
    ``data.entropy_rate()`` in nats per token) also gets ``entropy-rate`` next to the Monte-Carlo
    ``data-entropy`` (which, for sequences of finite length, sits slightly above it).
    """

    class Config(MetricConfig):
        name: Literal["true-nll"] = "true-nll"
        reference_size: int = Field(4096, ge=0, description="held-out sequences for the entropy estimate (0 = skip)")

    config: Config
    requires = frozenset({"known_generator"})
    not_compared = frozenset({"data-entropy", "entropy-rate"})

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        mean, se = mean_stderr(bits_per_token(context, samples))
        out = {"true-nll": MetricValue(mean, se, "bits/token", False)}
        rate = getattr(context.data, "entropy_rate", None)
        if callable(rate):
            out["entropy-rate"] = MetricValue(float(rate()) / LN2, None, "bits/token", False)
        n_ref = self.config.reference_size
        if n_ref == 0:
            return out
        h, se_h = context.cached(
            "true-nll", n_ref, lambda: mean_stderr(bits_per_token(context, reference_tokens(context, n_ref)[0]))
        )
        out["data-entropy"] = MetricValue(h, se_h, "bits/token", False)
        ratio, se_r = ratio_of_means(mean, se, h, se_h)
        out["true-nll-ratio"] = MetricValue(ratio, se_r, "x entropy", False)
        return out


def ks_uniform(x: Tensor) -> float:
    """Kolmogorov-Smirnov statistic ``sup |F_n(x) - x|`` of values ``x (n,)`` in ``[0, 1)`` against U[0, 1]."""
    u = torch.sort(x.detach().to(torch.float64).flatten()).values
    n = u.numel()
    if n == 0:
        return float("nan")
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - u, u - (i - 1) / n).max())


def ks_pvalue(d: float, n: int) -> float:
    """Asymptotic p-value of a one-sample KS statistic ``d`` (Stephens' small-sample correction)."""
    if n == 0 or math.isnan(d):
        return float("nan")
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 1e-3:
        return 1.0
    p = 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return min(max(p, 0.0), 1.0)


class PhaseKS(SampleMetric):
    """Mode-collapse check: the best-fitting phase of each sample should be uniform over one period.

    The data source must offer ``sample_phase_fit(tokens) -> (B,)`` phases in ``[0, 1/K)``
    (``K`` = ``config.num_teeth``, default 1); they are rescaled to ``[0, 1)`` and compared with
    U[0, 1].  ``phase-ks`` is the KS statistic (0 = uniform, near 1 = one phase for every sample;
    about ``0.9 / sqrt(n)`` is typical of real data), ``phase-ks-pvalue`` its asymptotic p-value.
    """

    class Config(MetricConfig):
        name: Literal["phase-ks"] = "phase-ks"

    requires = frozenset({"known_generator"})
    not_compared = frozenset({"phase-ks-pvalue"})

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        fit = getattr(context.data, "sample_phase_fit", None)
        if fit is None:
            raise MetricNotApplicable(f"{type(context.data).__name__} has no sample_phase_fit (no latent phase)")
        period = 1.0 / getattr(context.data.config, "num_teeth", 1)
        phases = torch.remainder(fit(samples.cpu()).to(torch.float64) / period, 1.0)
        d = ks_uniform(phases)
        return {
            "phase-ks": MetricValue(d, None, "KS D", False),
            "phase-ks-pvalue": MetricValue(ks_pvalue(d, phases.numel()), None, "p", True),
        }
