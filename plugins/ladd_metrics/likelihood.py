"""The model's NLL bound: on held-out data (``nelbo``) and on another corpus (``zero-shot-nelbo``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import Batch
from ladd_core.components.metrics import EvalContext, MetricConfig, MetricValue, ModelMetric
from ladd_core.evaluation.context import MetricNotApplicable
from ladd_core.model import LaddModel
from ladd_metrics._stats import ratio_stderr

__all__ = ["NELBO", "SequenceBounds", "ZeroShotNELBO", "bound_values", "nelbo_per_sequence", "sequence_bounds"]

LN2 = math.log(2.0)


@dataclass
class SequenceBounds:
    """Per-sequence NELBO terms in nats (float64, CPU), averaged over time/noise draws.

    ``token`` is the token channel's term L_x (for a latent model: given the encoder's latent);
    ``latent`` is the latent channel's term L_y, ``None`` when the channel reports no valid term.
    ``token + latent`` (or ``token`` alone for a model without a latent) bounds -log p(x).
    """

    token: Tensor
    latent: Tensor | None
    tokens: Tensor
    has_latent: bool

    @property
    def joint(self) -> Tensor | None:
        """The valid bound on -log p(x) per sequence, or ``None`` where the model has none."""
        if not self.has_latent:
            return self.token
        return None if self.latent is None else self.token + self.latent


@torch.no_grad()
def sequence_bounds(model: LaddModel, batches: list[Batch], draws: int, seed: int) -> SequenceBounds:
    """The NELBO terms of each sequence of ``batches``, averaged over ``draws`` time/noise draws."""
    n = sum(b.tokens.shape[0] for b in batches)
    token = torch.zeros(n, dtype=torch.float64)
    latent: Tensor | None = torch.zeros(n, dtype=torch.float64)
    tokens = torch.zeros(n, dtype=torch.float64)
    for d in range(draws):
        gen = torch.Generator(device=model.device).manual_seed(seed * 7919 + d)
        start = 0
        for batch in batches:
            out = model.loss(batch.to(model.device), gen)
            stop = start + batch.tokens.shape[0]
            token[start:stop] += out.token_nelbo.detach().to(torch.float64).cpu() / draws
            if out.latent_nelbo is None:
                latent = None
            elif latent is not None:
                latent[start:stop] += out.latent_nelbo.detach().to(torch.float64).cpu() / draws
            tokens[start:stop] = out.num_tokens.detach().to(torch.float64).cpu()
            start = stop
    return SequenceBounds(token, latent, tokens, "no_latent" not in model.capabilities)


def nelbo_per_sequence(model: LaddModel, batches: list[Batch], draws: int, seed: int) -> tuple[Tensor, Tensor]:
    """The valid NLL bound of each sequence in nats and its scored tokens (float64, CPU).

    Raises:
        MetricNotApplicable: a latent model whose channel reports no latent term (no valid bound).
    """
    b = sequence_bounds(model, batches, draws, seed)
    if b.joint is None:
        raise MetricNotApplicable("the latent channel reports no latent bound term: no valid NLL bound")
    return b.joint, b.tokens


def bound_values(
    prefix: str, nats: Tensor, tokens: Tensor, chars: Tensor | None, z: float = 1.96
) -> dict[str, MetricValue]:
    """Bits per token (``prefix``), the perplexity bound ``exp(nats / token)`` and bits per character.

    Each is a token- (or character-) weighted ratio over sequences with a delta-method standard
    error; a ``z``-sigma interval is ``value +- z * stderr``.
    """
    bpt, se = ratio_stderr(nats / LN2, tokens)
    out = {prefix: MetricValue(bpt, se, "bits/token", False)}
    ppl = math.exp(bpt * LN2)
    out[f"{prefix}-ppl"] = MetricValue(ppl, None if se is None else ppl * se * LN2, "perplexity bound", False)
    if chars is not None and float(chars.sum()) > 0:
        bpc, se_c = ratio_stderr(nats / LN2, chars)
        out[f"{prefix}-char"] = MetricValue(bpc, se_c, "bits/char", False)
    return out


def _chars(context: EvalContext, batches: list[Batch]) -> Tensor | None:
    """Decoded characters per sequence, or ``None`` when the tokenizer cannot decode."""
    try:
        lens = [len(t) for b in batches for t in context.data.decode(b.tokens.cpu(), b.attention_mask.cpu())]
    except (NotImplementedError, ValueError, KeyError):
        return None
    return torch.tensor(lens, dtype=torch.float64)


class NELBO(ModelMetric):
    """The model's NLL upper bound on held-out data: bits per token, perplexity bound, bits per character.

    ``nelbo`` is a valid bound on -log p(x): the token NELBO of a model without a latent, L_x + L_y for a
    latent channel that reports a valid latent term, absent otherwise (a deterministic Gaussian encoder,
    docs/coladd.md).  A latent model always reports its token-channel term ``token-nelbo`` (L_x given the
    encoder's latent) and, where valid, ``latent-nelbo`` (L_y); both are not compared across models
    because L_x alone conditions on information MDLM does not have.

    It needs no samples (a :class:`ModelMetric`): the engine computes it once per run and seed.
    """

    class Config(MetricConfig):
        name: Literal["nelbo"] = "nelbo"
        batches: int = Field(8, ge=1, description="held-out batches")
        batch_size: int = Field(32, ge=1)
        draws: int = Field(4, ge=1, description="time/noise draws per sequence, averaged")

    config: Config
    requires = frozenset({"model"})
    not_compared = frozenset({"token-nelbo", "latent-nelbo"})

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        cfg = self.config
        if context.model is None:
            raise MetricNotApplicable("no model in the context")
        batches = list(context.data.val_batches(cfg.batch_size, cfg.batches))
        if not batches:
            raise MetricNotApplicable("the data source has no validation sequences")
        b = sequence_bounds(context.model, batches, cfg.draws, context.seed)
        chars = _chars(context, batches)
        out: dict[str, MetricValue] = {}
        if b.has_latent:
            bpt, se = ratio_stderr(b.token / LN2, b.tokens)
            out["token-nelbo"] = MetricValue(bpt, se, "bits/token, L_x given the encoder latent", False)
            if b.latent is not None:
                bpt, se = ratio_stderr(b.latent / LN2, b.tokens)
                out["latent-nelbo"] = MetricValue(bpt, se, "bits/token, L_y", False)
        if b.joint is not None:
            out.update(bound_values("nelbo", b.joint, b.tokens, chars))
        return out


class ZeroShotNELBO(ModelMetric):
    """NLL bound on another corpus (``--zero-shot FILE``): the first ``max_windows`` windows of ``seq_len``.

    The file is tokenised with the run's tokenizer; the last window is padded (padding is not
    scored).  ``zero-shot-tokens`` states how many tokens were scored.
    """

    class Config(MetricConfig):
        name: Literal["zero-shot-nelbo"] = "zero-shot-nelbo"
        max_windows: int = Field(64, ge=1, description="windows scored, from the start of the file")
        batch_size: int = Field(16, ge=1)
        draws: int = Field(4, ge=1, description="time/noise draws per window, averaged")

    config: Config
    requires = frozenset({"model", "zero_shot"})
    not_compared = frozenset({"zero-shot-tokens"})

    def _windows(self, context: EvalContext, path: Path) -> list[Batch]:
        cfg, data = self.config, context.data
        length = data.seq_len
        budget = cfg.max_windows * length
        try:
            text = path.read_text(encoding="utf-8")[: budget * 16]
        except UnicodeDecodeError as exc:
            raise MetricNotApplicable(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            ids = data.tokenizer.encode(text)[:budget]
        except (ValueError, KeyError) as exc:
            raise MetricNotApplicable(f"the run's tokenizer cannot encode {path}: {exc}") from None
        if not ids:
            raise MetricNotApplicable(f"{path} holds no tokens")
        unknown = data.tokenizer.non_data_ids
        if all(i in unknown for i in ids):
            raise MetricNotApplicable(f"the run's tokenizer cannot encode {path}: every character maps to <unk>")
        n = math.ceil(len(ids) / length)
        pad = data.tokenizer.pad_id or 0
        flat = torch.full((n * length,), pad, dtype=torch.long)
        flat[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask = torch.zeros(n * length, dtype=torch.bool)
        mask[: len(ids)] = True
        toks, masks = flat.view(n, length), mask.view(n, length)
        return [Batch(toks[i : i + cfg.batch_size], masks[i : i + cfg.batch_size]) for i in range(0, n, cfg.batch_size)]

    def compute(self, context: EvalContext) -> dict[str, MetricValue]:
        path = context.zero_shot
        if context.model is None or path is None:
            raise MetricNotApplicable("needs a model and a --zero-shot file")
        batches = self._windows(context, Path(path))
        nats, toks = nelbo_per_sequence(context.model, batches, self.config.draws, context.seed)
        out = bound_values("zero-shot-nelbo", nats, toks, _chars(context, batches))
        out["zero-shot-tokens"] = MetricValue(float(toks.sum()), None, "tokens", True)
        return out
