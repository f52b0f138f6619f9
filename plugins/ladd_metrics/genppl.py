"""Generative perplexity under an external causal-LM judge (``gen-ppl``)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field
from torch import Tensor

from ladd_core.components.metrics import EvalContext, Judge, MetricConfig, MetricValue, SampleMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_metrics._stats import mean_stderr, ratio_stderr
from ladd_metrics.distribution import unigram_entropy

__all__ = ["GenPPL", "Judge", "token_weighted_ppl"]


def token_weighted_ppl(nll: Tensor, tokens: Tensor) -> tuple[float, float | None]:
    """``exp(total NLL / total tokens)`` and its delta-method standard error (texts are the units).

    Token weighting (MDLM/Duo) differs from the mean of per-text perplexities (SEDD), which
    weighs short texts more and is larger by Jensen's inequality.
    """
    r, se = ratio_stderr(nll, tokens)
    ppl = math.exp(r)
    return ppl, (None if se is None else ppl * se)


class GenPPL(SampleMetric):
    """Perplexity of the decoded samples under the judge (lower is better), always with their entropy.

    Samples are decoded with the run's tokenizer and re-tokenised by the judge.  Also reports
    ``gen-ppl-real``: the same judge on held-out real text (a floor to compare with), and
    ``entropy`` (per-sample unigram entropy, nats) because a perplexity without entropy can be
    gamed by repetitive samples.
    """

    class Config(MetricConfig):
        name: Literal["gen-ppl"] = "gen-ppl"
        reference_size: int = Field(64, ge=0, description="held-out sequences scored as a reference (0 = skip)")

    config: Config
    requires = frozenset({"judge", "text"})
    not_compared = frozenset({"entropy", "gen-ppl-real"})

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        judge: Judge | None = context.judge
        if judge is None:
            raise MetricNotApplicable("no judge loaded")
        nll, tok = judge.score(context.data.decode(samples.cpu()))
        if float(tok.sum()) == 0:
            raise MetricNotApplicable("the judge scored no tokens (empty decoded samples)")
        out = {
            "gen-ppl": MetricValue(*token_weighted_ppl(nll, tok), "judge ppl", False),
            "entropy": MetricValue(*mean_stderr(unigram_entropy(samples)), "nats", True),
        }
        n_ref = self.config.reference_size
        if n_ref:
            real = context.cached(
                "gen-ppl",
                n_ref,
                lambda: token_weighted_ppl(*judge.score(context.data.decode(*reference_tokens(context, n_ref)))),
            )
            out["gen-ppl-real"] = MetricValue(*real, "judge ppl", False)
        return out
