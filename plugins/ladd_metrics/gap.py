"""``latent-gap``: expressivity against diffusion compatibility (issue #34), under a known generator.

A sequential latent model samples in two halves: a latent chain makes a clean latent, then the token chain
samples the tokens given it.  The metric measures each half with the exact likelihood of the data source:

* *expressivity*: the token chain conditioned on the **encoder's** latent of held-out sequences -- the latent
  a perfect latent generator would produce (for Co-LADD the encoder mean ``mu``, for Di-LADD the codes);
* *compatibility*: the token chain conditioned on latents from the model's own **latent sampler**
  (:func:`~ladd_samplers.sequential.latent_first`, ``M`` latent steps);
* their **gap**, sampled - encoder: what the latent generator costs on top of the token chain.

Both sides draw as many samples as there are held-out sequences, each scored by its true NLL in bits per
token (:func:`~ladd_metrics.generator.bits_per_token`, as ``true-nll``).  The two sides are independent
draws, so the gap's standard error is ``sqrt(se_sampled^2 + se_encoder^2)``.  A perfect latent generator
gives a gap of 0 within noise whatever the token network; the latent chain's own bound (``latent_nelbo`` of
the model's eval loss, e.g. Di-LADD's code NELBO) is reported where the channel has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.capability import Capability
from ladd_core.components.data import Batch
from ladd_core.components.latent_protocols import CodeChannel, SequentialSampling, as_protocol
from ladd_core.components.latents import LatentBatch
from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.evaluation.context import MetricNotApplicable, reference_tokens
from ladd_core.model import LaddModel
from ladd_metrics._stats import mean_stderr, ratio_stderr
from ladd_metrics.generator import bits_per_token
from ladd_metrics.likelihood import sequence_bounds
from ladd_samplers.ancestral import token_chain
from ladd_samplers.sequential import SequentialSampler, latent_first

__all__ = ["LatentGap", "chain_bits", "encoder_condition", "sampled_condition"]

LN2 = math.log(2.0)
Conditioner = Callable[[LaddModel, Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]
"""``(model, x0 (B, L), attention_mask (B, L), generator) -> (latent_input (B, K, input_dim), t_y (B,))``."""


def encoder_condition(
    model: LaddModel, x0: Tensor, attention_mask: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The token chain's condition for the encoder's clean latent of ``x0 (B, L)``.

    A code channel (:class:`~ladd_core.components.latent_protocols.CodeChannel`): ``token_condition`` of its
    codes.  Otherwise the channel's probe at ``t_y = 0`` (documented as exactly the clean encoder latent as the
    token network reads it, e.g. Co-LADD's ``mu`` with ``t_y = 0``): the sequential protocol has no method that
    encodes ``x0`` into the state space, and the probe is the public route to the same input.
    """
    latent = as_protocol(model.latent, SequentialSampling)
    if isinstance(model.latent, CodeChannel):
        return latent.token_condition(model.latent.encode_codes(x0, attention_mask))
    b, length = x0.shape
    zeros = torch.zeros(b, device=x0.device)
    x_t = model.process.prior(b, length, x0.device)  # (B, L) the all-mask state the chain starts from
    probe = model.latent.probe(
        model.nets, LatentBatch(x0, x_t, torch.ones(b, device=x0.device), attention_mask, generator), zeros
    )
    if probe is None:
        raise MetricNotApplicable(f"{type(model.latent).__name__} has no probe: no encoder latent to condition on")
    return probe.informed, probe.informed_t


def sampled_condition(latent_steps: int, t_final: float) -> Conditioner:
    """The token chain's condition for a latent from the model's latent sampler (``latent_steps`` steps).

    The clean latent of :func:`~ladd_samplers.sequential.latent_first` from the all-mask token state, then
    ``token_condition``; ``x0`` only sets the batch's shape.
    """

    def condition(
        model: LaddModel, x0: Tensor, attention_mask: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        prior = model.process.prior(x0.shape[0], x0.shape[1], x0.device)  # (B, L)
        y, _ = latent_first(model, prior, latent_steps, t_final, generator)
        return as_protocol(model.latent, SequentialSampling).token_condition(y)

    return condition


@torch.no_grad()
def chain_bits(
    context: EvalContext,
    tokens: Tensor,
    mask: Tensor,
    cfg: SequentialSampler.Config,
    conditioner: Conditioner,
    batch_size: int,
    seed: int,
) -> Tensor:
    """True NLL in bits/token ``(R,)`` float64 of one token-chain sample per row of ``tokens (R, L)``, each
    conditioned on ``conditioner``'s latent for that row's batch."""
    model = context.model
    assert model is not None
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for i in range(0, tokens.shape[0], batch_size):
        x0, attn = tokens[i : i + batch_size].to(model.device), mask[i : i + batch_size].to(model.device)
        lat, t_y = conditioner(model, x0, attn, gen)
        prior = model.process.prior(x0.shape[0], x0.shape[1], model.device)  # (B, L)
        x, _, _ = token_chain(model, prior, cfg, gen, latents=lat, t_y=t_y)
        out.append(bits_per_token(context, x))
    return torch.cat(out)


class LatentGap(ModelMetric):
    """Expressivity (encoder latent) vs compatibility (sampled latent) of a sequential latent model.

    Reports, for each ``N`` of ``steps`` (true NLL in bits/token, lower is better):

    * ``latent-gap-encoder-n{N}``: token samples given the encoder's latent of held-out sequences;
    * ``latent-gap-sampled-n{N}``: token samples given the latent sampler's latent (``latent_steps`` = M);
    * ``latent-gap-n{N}``: sampled - encoder (0 = the latent generator costs nothing);

    and, never ranked, ``latent-gap-entropy`` (the held-out sequences' own true NLL: what a perfect model
    scores) and ``latent-gap-latent-nelbo`` (the latent chain's bound on the held-out sequences, bits/token,
    where the channel reports one).  Needs the ``"sequential"`` capability; opt-in (slow: ``2 |steps|`` chains).
    """

    class Config(MetricConfig):
        name: Literal["latent-gap"] = "latent-gap"
        sequences: int = Field(256, ge=2, description="held-out sequences encoded; as many latents are sampled")
        steps: list[int] = Field([1], min_length=1, description="N, token steps of the token chain")
        latent_steps: int = Field(8, ge=0, description="M, latent steps of the latent sampler")
        batch_size: int = Field(128, ge=1)
        nelbo_draws: int = Field(1, ge=0, description="time/noise draws of the latent bound (0 = skip it)")

    config: Config
    requires = frozenset({"model", "known_generator"})
    default = False  # 2 |steps| token chains and |steps| latent chains per run and seed: run it by name
    not_compared = frozenset({"latent-gap-entropy", "latent-gap-latent-nelbo"})

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        model, c = context.model, self.config
        if model is None:
            raise MetricNotApplicable("needs the model")
        if Capability.SEQUENTIAL not in model.capabilities:
            raise MetricNotApplicable("needs a latent model with the 'sequential' capability (a latent chain)")
        tokens, mask = reference_tokens(context, c.sequences)
        if not bool(mask.all()):
            raise MetricNotApplicable("the held-out sequences are padded; the chains sample full-length rows")
        was_training = model.training
        model.eval()
        try:
            out = self._entropy(context, tokens)
            for n in c.steps:
                cfg = SequentialSampler.Config(steps=n, latent_steps=c.latent_steps)
                base = context.seed * 1_000_003 + 4 * n
                enc = chain_bits(context, tokens, mask, cfg, encoder_condition, c.batch_size, base)
                smp = chain_bits(context, tokens, mask, cfg, sampled_condition(c.latent_steps, cfg.t_final),
                                 c.batch_size, base + 1)  # fmt: skip
                (e, se_e), (s, se_s) = mean_stderr(enc), mean_stderr(smp)
                se = None if se_e is None or se_s is None else math.sqrt(se_e**2 + se_s**2)
                out[f"latent-gap-encoder-n{n}"] = MetricValue(e, se_e, "bits/token", False)
                out[f"latent-gap-sampled-n{n}"] = MetricValue(s, se_s, "bits/token", False)
                out[f"latent-gap-n{n}"] = MetricValue(s - e, se, "bits/token", False)
            out.update(self._latent_bound(model, tokens, mask, context.seed))
        finally:
            model.train(was_training)
        return out

    @staticmethod
    def _entropy(context: EvalContext, tokens: Tensor) -> dict[str, MetricValue]:
        """The held-out sequences' true NLL (a Monte-Carlo estimate of the source's entropy)."""
        h, se = mean_stderr(bits_per_token(context, tokens))
        return {"latent-gap-entropy": MetricValue(h, se, "bits/token", False)}

    def _latent_bound(self, model: LaddModel, tokens: Tensor, mask: Tensor, seed: int) -> dict[str, MetricValue]:
        """The latent chain's own bound L_y on the held-out sequences, where the channel reports one."""
        if self.config.nelbo_draws == 0:
            return {}
        bs = self.config.batch_size
        batches = [Batch(tokens[i : i + bs], mask[i : i + bs]) for i in range(0, tokens.shape[0], bs)]
        b = sequence_bounds(model, batches, self.config.nelbo_draws, seed)
        if b.latent is None:
            return {}
        bpt, se = ratio_stderr(b.latent / LN2, b.tokens)
        return {"latent-gap-latent-nelbo": MetricValue(bpt, se, "bits/token, L_y", False)}
