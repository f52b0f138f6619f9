"""``prompt-nll``: the true NLL of completions given their prompt, under a known generator."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, SampleMetric
from ladd_core.conditioning import Condition
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_metrics._stats import mean_stderr, ratio_of_means

__all__ = ["PromptNLL", "completion_nll_bits"]

LN2 = math.log(2.0)


def completion_nll_bits(context: EvalContext, tokens: Tensor, condition: Condition) -> Tensor:
    """``-log2 p(x_gen | x_prompt)`` per generated token of each row ``(B,)`` float64, under the true process.

    ``-log p(x_gen | x_prompt) = -log p(x) + log p(x_prompt)``; the prompt's marginal comes from the data
    source's exact ``log_marginal(tokens, observed)``.

    Raises:
        MetricNotApplicable: the data source cannot give marginals of a subset of positions.
    """
    data = context.data
    x, visible = tokens.cpu(), condition.visible.cpu()
    try:
        log_prompt = data.log_marginal(x, visible).to(torch.float64)  # (B,)
    except NotImplementedError as exc:
        raise MetricNotApplicable(str(exc)) from None
    log_joint = data.log_likelihood(x).to(torch.float64)  # (B,)
    generated = (~visible).sum(-1).clamp_min(1).to(torch.float64)  # (B,)
    return (log_prompt - log_joint) / (generated * LN2)


class PromptNLL(SampleMetric):
    """Conditional task (``ladd eval --prompt-len K``): how likely the completions are given their prompt.

    ``prompt-nll``: mean over samples of ``-log2 p(x_gen | x_prompt)`` per generated token under the true
    process (lower is better).  ``prompt-entropy``: the same for the real held-out continuations of the
    same prompts (a Monte-Carlo estimate of the conditional entropy; not compared), and
    ``prompt-nll-ratio`` their ratio (1.0 = completions as likely as the real ones).  Needs a data source
    with ``log_marginal`` (the ``sawtooth``: its positions are independent given the phase, so the
    prompt's marginal integrates the product over the prompt positions alone).
    """

    class Config(MetricConfig):
        name: Literal["prompt-nll"] = "prompt-nll"

    requires = frozenset({"known_generator", "prompt"})
    not_compared = frozenset({"prompt-entropy"})

    def compute(self, samples: Tensor, context: EvalContext) -> dict[str, MetricValue]:
        condition = context.prompt
        if condition is None:
            raise MetricNotApplicable("no prompts in this evaluation (use --prompt-len)")
        if condition.tokens.shape[0] != samples.shape[0]:
            raise MetricNotApplicable(f"{samples.shape[0]} samples for {condition.tokens.shape[0]} prompts")
        mean, se = mean_stderr(completion_nll_bits(context, samples, condition))
        out = {"prompt-nll": MetricValue(mean, se, "bits/generated token", False)}
        real = condition.tokens if context.prompt_reference is None else context.prompt_reference
        h, se_h = context.cached("prompt-nll", None, lambda: mean_stderr(completion_nll_bits(context, real, condition)))
        out["prompt-entropy"] = MetricValue(h, se_h, "bits/generated token", False)
        ratio, se_r = ratio_of_means(mean, se, h, se_h)
        out["prompt-nll-ratio"] = MetricValue(ratio, se_r, "x conditional entropy", False)
        return out
