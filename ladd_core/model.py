"""``LaddModel``: a token process, a latent channel and networks, composed.

MDLM is the special case with the ``none`` latent channel; Co-LADD and
Di-LADD plug other channels into the same model and training loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ladd_core.components.backbones import Backbone
from ladd_core.components.data import Batch
from ladd_core.components.latents import LatentBatch, LatentChannel, Networks
from ladd_core.components.objectives import Objective
from ladd_core.components.processes import TokenProcess
from ladd_core.posterior import TokenPosterior

__all__ = ["LaddModel", "LossOutput"]


@dataclass
class LossOutput:
    """One batch's losses.

    Attributes:
        loss: scalar to minimise (token loss + latent loss, batch mean).
        token_nelbo: ``(B,)`` token-channel NELBO, nats per sequence.
        latent_nelbo: ``(B,)`` latent-channel bound term in nats, or ``None`` where not a valid bound.
        num_tokens: ``(B,)`` scored tokens.
        logs: scalar diagnostics, detached 0-dim tensors (or floats); the trainer turns them into
            numbers only on the steps it logs, so a step makes no host sync for them.
    """

    loss: Tensor
    token_nelbo: Tensor
    latent_nelbo: Tensor | None
    num_tokens: Tensor
    logs: dict[str, Tensor | float] = field(default_factory=dict)


class LaddModel(nn.Module):
    """The assembled model.

    Args:
        process: token process (with its schedule).
        latent: latent channel (``none`` for MDLM).
        backbone: the (joint) denoiser.
        objective: the token loss.
        latent_denoiser: optional separate latent denoiser.
        seq_len: ``L``.
        capabilities: declared model capabilities (latent channel + networks).
        forbidden_ids: data ids that can never occur in the data (the tokenizer's
            ``non_data_ids``: padding, ``<unk>``); samplers never emit them.
    """

    def __init__(
        self,
        *,
        process: TokenProcess,
        latent: LatentChannel,
        backbone: Backbone,
        objective: Objective,
        latent_denoiser: Backbone | None = None,
        seq_len: int,
        capabilities: frozenset[str] = frozenset(),
        forbidden_ids: Iterable[int] = (),
    ) -> None:
        super().__init__()
        forbidden = tuple(sorted(set(forbidden_ids)))
        if any(not 0 <= i < process.vocab_size for i in forbidden) or len(forbidden) >= process.vocab_size:
            raise ValueError(
                f"forbidden_ids {forbidden} must be data ids of a vocabulary of {process.vocab_size}, not all"
            )
        self.forbidden_ids = forbidden
        self.process = process
        self.latent = latent
        self.backbone = backbone
        self.latent_denoiser = latent_denoiser
        self.objective = objective
        self.seq_len = seq_len
        self.capabilities = capabilities
        self.stage = 1

    @property
    def nets(self) -> Networks:
        return Networks(self.backbone, self.latent_denoiser, self.process.prior)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def set_stage(self, stage: int) -> list[nn.Parameter]:
        """Enter training ``stage`` (1-based); returns the parameters to optimise in it."""
        self.stage = stage
        modules = self.latent.trainable_modules(stage, self.nets)
        keep: dict[int, nn.Parameter] = {}
        for m in modules:
            for p in m.parameters():
                keep[id(p)] = p
        for p in self.parameters():
            p.requires_grad_(id(p) in keep)
        return [p for p in self.parameters() if id(p) in keep]

    def posterior(self, logits: Tensor, x_t: Tensor, temperature: float = 1.0, top_p: float = 1.0) -> TokenPosterior:
        """``p(x_0 | x_t)`` to sample from, given the denoiser's raw ``logits (B, L, C)`` at ``x_t (B, L)``.

        The one place every sampler goes through (each reverse step and the final noise removal): the
        logits of :attr:`forbidden_ids` are set to ``-inf`` *before* the process normalises them, so those
        ids get probability exactly 0 and the rest renormalise; then temperature and nucleus filtering
        (:func:`~ladd_core.numerics.adjust_log_probs`).  Rows are normalised only where a sampler draws
        (:class:`~ladd_core.posterior.TokenPosterior`).  Training and the NELBO use the unmodified
        :meth:`TokenProcess.log_probs`.
        """
        return TokenPosterior(x_t, logits=logits, process=self.process, forbidden_ids=self.forbidden_ids,
                              temperature=temperature, top_p=top_p)  # fmt: skip

    def sampling_log_probs(self, logits: Tensor, x_t: Tensor, temperature: float = 1.0, top_p: float = 1.0) -> Tensor:
        """The full ``(B, L, C)`` log-probs of :meth:`posterior` (every position normalised; logits checked finite)."""
        return self.posterior(logits, x_t, temperature, top_p).log_probs()

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> LossOutput:
        """Training loss of ``batch`` (tokens ``(B, L)``) with fresh times and noise from ``generator``."""
        x0, attn = batch.tokens, batch.attention_mask
        b = x0.shape[0]
        if self.training:
            t = self.objective.training_times(b, x0.device, generator)  # (B,)
        else:
            t = self.objective.sample_times(b, x0.device, generator)  # (B,)
        noised = self.process.forward_sample(x0, t, attn, generator)
        out = self.latent.training_forward(self.nets, LatentBatch(x0, noised.x_t, t, attn, generator), stage=self.stage)
        log_p = self.process.log_probs(out.token_logits, noised.x_t)  # (B, L, C) float32
        tok = self.objective(self.process, log_p, x0, noised.x_t, t, attn)
        per_example = tok.loss + out.latent_loss
        logs = {
            "token_loss": tok.loss.detach().mean(),
            "latent_loss": out.latent_loss.detach().mean(),
            **out.logs,
        }
        return LossOutput(per_example.mean(), tok.nelbo, out.latent_nelbo, tok.num_tokens, logs)

    @torch.no_grad()
    def nelbo_bits_per_token(self, batch: Batch, generator: torch.Generator | None = None) -> tuple[float, float]:
        """Token-channel NELBO of ``batch`` in bits per token (one time draw per example) and its total tokens."""
        out = self.loss(batch, generator)
        n = float(out.num_tokens.sum())
        return float(out.token_nelbo.sum()) / max(n, 1.0) / math.log(2), n
