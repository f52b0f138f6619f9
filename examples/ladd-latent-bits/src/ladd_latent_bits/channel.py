"""The ``bits`` latent channel: a binary bit-vector latent with masked diffusion on the bits.

``y_0 in {0, 1}^{K x b}``: an encoder and a linear head give ``K x b`` logits ``l``; the bits are ``1[l > 0]``
(``sign``) or ``Bernoulli(sigmoid(l))`` (``bernoulli``).  The latent stream reads a bit as ``-1``/``+1`` and a
masked bit as ``0``; revealed bits carry a straight-through gradient (``tanh``), so the token loss trains the
encoder.  Each bit is masked w.p. ``1 - alpha(t_y)`` (the shared absorbing process); the latent head predicts
one logit per bit.  ladd's core schedule makes the network calls.  Bound: ``-log p(x_0) <= E_q[L_x + L_y] -
H[q(y_0 | x_0)]``, ``L_y`` the bits' masked-diffusion NELBO; ``H = 0`` with ``sign``, exact with ``bernoulli``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ladd_core.components import absorbing as ab
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_process import CleanLatent, DiffusedLatent, LatentLoss, LatentStep, NoisedLatent
from ladd_core.components.latents import LatentConfig
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import check_finite

__all__ = ["MASK", "BitsLatent"]

MASK = 2
"""State id of a masked bit (bits are 0 and 1)."""


class BitsLatent(DiffusedLatent):
    """Binary latent of ``K`` slots x ``b`` bits: ``"joint"``, ``"joint_bound"``, ``"sequential"`` with independent
    clocks (bits first, by the joint network fed all-mask tokens).  Needs a ``"latent_stream"`` backbone."""

    class Config(LatentConfig):
        """Configuration of the ``bits`` latent channel."""

        name: Literal["bits"] = "bits"
        encoder: Annotated[ComponentConfig, Ref("encoder")] = ref(
            "encoder", "transformer", description="x_0 -> (K, d); K = encoder.num_slots"
        )
        schedule: Annotated[ComponentConfig, Ref("schedule")] = ref(
            "schedule", "linear", description="bit-masking schedule; alpha(t) = probability a bit is visible"
        )
        bits: int = Field(8, ge=1, le=64, description="b, bits per slot")
        estimator: Literal["sign", "bernoulli"] = Field(
            "sign", description="sign: deterministic bits 1[l > 0]; bernoulli: bits ~ Bernoulli(sigmoid(l))"
        )
        clocks: Literal["independent", "tied"] = Field(
            "independent", description="t_y drawn independently of t_x in training (enables sequential) or tied"
        )
        latent_loss: Literal["nelbo", "masked-ce"] = Field(
            "nelbo", description="bit loss: NELBO-weighted or unweighted masked cross-entropy, per bit"
        )
        latent_weight: float = Field(1.0, ge=0.0, le=1e6, description="lambda, weight of the bit loss")
        t_min: float = Field(1e-4, gt=0.0, lt=1.0, description="t_y is drawn in [t_min, 1]")

    config: Config
    backbone_requires = frozenset({"latent_stream"})

    def __init__(self, config: Config, encoder: Encoder, schedule: Schedule) -> None:
        super().__init__(config)
        self.encoder, self.schedule = encoder, schedule
        self.head = nn.Linear(encoder.dim, config.bits)  # (d) -> (b) bit logits per slot

    num_slots = property(lambda self: self.encoder.num_slots)
    input_dim = output_dim = property(lambda self: self.config.bits)

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        tied = getattr(config, "clocks", "independent") == "tied"
        return frozenset({"joint", "joint_bound"} if tied else {"joint", "sequential", "joint_bound"})

    def bit_log_probs(self, latent_out: Tensor, state: Tensor) -> Tensor:
        """SUBS ``log p(bit_0 | state)`` ``(B, K, b, 2)`` float32: a Dirac at revealed bits."""
        logit = latent_out.float()
        return ab.subs_log_probs(torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], -1), state, MASK)

    # -- process pieces of the core training schedule --------------------------------------
    def encode_latent(self, x0, x_t, attention_mask, stage, generator) -> CleanLatent:  # type: ignore[override]
        """Bits ``(B, K, b)``, their straight-through ``+-1`` values as input; ``aux``: the logits."""
        logits = self.head(self.encoder(x0, attention_mask).float())  # (B, K, b)
        if self.config.estimator == "sign":
            bits, soft = (logits > 0).long(), torch.tanh(logits)
        else:
            u = torch.rand(logits.shape, generator=generator, device=logits.device)
            bits, soft = (u < torch.sigmoid(logits)).long(), torch.tanh(logits / 2)  # E[2 bit - 1]
        hard = 2.0 * bits.to(logits.dtype) - 1.0
        return CleanLatent(bits, hard + (soft - soft.detach()), aux=logits)

    def forward_sample(self, clean: CleanLatent, t: Tensor, generator: torch.Generator | None) -> NoisedLatent:
        state, masked = ab.absorb(clean.value, self.schedule.alpha(t), MASK, generator=generator)  # (B, K, b)
        return NoisedLatent(state, torch.where(masked, torch.zeros_like(clean.input), clean.input), masked)

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        cfg, bits, masked = self.config, step.clean.value, step.noised.noise  # type: ignore[union-attr]
        if step.latent_out is None:
            raise ValueError("the bits latent needs a backbone returning token logits and latent_out (latent_stream)")
        lp = self.bit_log_probs(step.latent_out, step.noised.state)  # type: ignore[union-attr]  # (B, K, b, 2)
        nll = (-lp.gather(-1, bits[..., None]).squeeze(-1)).masked_fill(~masked, 0.0).sum((1, 2))  # (B,)
        diffusion = self.schedule.masked_elbo_weight(step.times.t.clamp_min(cfg.t_min)) * nll  # type: ignore[union-attr]
        loss = cfg.latent_weight * (diffusion if cfg.latent_loss == "nelbo" else nll) / bits[0].numel()
        entropy = torch.zeros_like(diffusion)
        if cfg.estimator == "bernoulli":  # exact entropy of the encoder's bits, H[q(y_0 | x_0)]
            p = torch.sigmoid(step.clean.aux)
            entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p)).sum((1, 2))
        logs = {"bit_loss": float(loss.detach().mean()), "bit_ones": float(bits.float().mean())}
        if int(masked.sum()) > 0:
            logs["bit_acc"] = float((((lp.argmax(-1) == bits) & masked).sum() / masked.sum()).detach())
        return LatentLoss(loss, diffusion - entropy, logs)

    # -- sampling API ----------------------------------------------------------------------
    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        return torch.full((batch_size, self.num_slots, self.config.bits), MASK, dtype=torch.long, device=device)

    def network_input(self, state: Tensor) -> Tensor:
        """``(B, K, b)`` states in ``{0, 1, MASK}`` -> ``-1``/``+1`` for bits, ``0`` for masks (float32)."""
        return torch.where(state == MASK, 0.0, 2.0 * state.float() - 1.0)

    def _bernoulli(self, latent_out: Tensor, generator: torch.Generator | None) -> ab.Draw:
        def draw(state: Tensor, where: Tensor) -> Tensor:  # float64 Bernoulli draws of the predicted bits
            p_one = self.bit_log_probs(check_finite(latent_out, "bit logits"), state)[..., 1].double().exp()
            u = torch.rand(p_one.shape, generator=generator, device=p_one.device, dtype=torch.float64)
            return torch.where(where, (u < p_one).long(), state)  # (B, K, b)

        return draw

    def latent_step(self, state, latent_out, t, s, generator=None) -> Tensor:  # type: ignore[override]
        p_reveal = ab.reveal_probability(self.schedule, t, s, state.dim())  # (B, 1, 1)
        return ab.posterior_step(state, MASK, p_reveal, self._bernoulli(latent_out, generator), generator)

    def latent_finalize(self, state, latent_out, t, generator=None) -> Tensor:  # type: ignore[override]
        return ab.finalize(state, MASK, self._bernoulli(latent_out, generator))
