"""The ``bits`` latent channel: ``y_0 in {0, 1}^{K x b}`` from an encoder, diffused by masking bits.

A linear head gives ``K x b`` logits ``l``; bits are ``1[l > 0]`` (``sign``) or ``Bernoulli(sigmoid(l))``. The latent
stream reads ``-1``/``+1`` (straight-through ``tanh`` gradients train the encoder), a masked bit ``0``. Masking, steps
and network calls are ladd's. Bound: ``L_x + L_y - H[q(y_0 | x_0)]`` (``H = 0`` with ``sign``, exact otherwise)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ladd_core.capability import Capability
from ladd_core.components import absorbing as ab
from ladd_core.components.absorbing_latent import AbsorbingLatent
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_process import CleanLatent, LatentLoss, LatentStep
from ladd_core.components.latents import LatentConfig
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import check_finite

__all__ = ["MASK", "BitsLatent"]

MASK = 2
"""State id of a masked bit (bits are 0 and 1)."""


class BitsLatent(AbsorbingLatent):
    """``K`` x ``b`` bits; joint, joint_bound, sequential with independent clocks; a latent_stream backbone."""

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
    mask_id = MASK

    def __init__(self, config: Config, encoder: Encoder, schedule: Schedule) -> None:
        super().__init__(config)
        self.encoder, self.schedule = encoder, schedule
        self.head = nn.Linear(encoder.dim, config.bits)  # (d) -> (b) bit logits per slot

    input_dim = output_dim = property(lambda self: self.config.bits)
    state_shape = property(lambda self: (self.encoder.num_slots, self.config.bits))

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        """The schedules implemented (joint, sequential), not sequential with tied clocks; always ``joint_bound``."""
        if not isinstance(config, cls.Config):
            raise TypeError(f"BitsLatent.capabilities_for needs a BitsLatent.Config, got {type(config).__name__}")
        caps = super().capabilities_for(config, has_latent_denoiser=has_latent_denoiser) | {Capability.JOINT_BOUND}
        return caps - {Capability.SEQUENTIAL} if config.clocks == "tied" else caps

    def bit_log_probs(self, latent_out: Tensor, state: Tensor) -> Tensor:
        """SUBS ``log p(bit_0 | state)`` ``(B, K, b, 2)`` float32: a Dirac at revealed bits."""
        return ab.subs_log_probs(F.logsigmoid(torch.stack([-latent_out.float(), latent_out.float()], -1)), state, MASK)

    def encode_latent(self, x0, x_t, attention_mask, stage, generator) -> CleanLatent:  # type: ignore[override]
        """Bits ``(B, K, b)``, their straight-through ``+-1`` values as input; ``aux``: the logits."""
        logits = self.head(self.encoder(x0, attention_mask).float())  # (B, K, b)
        if self.config.estimator == "sign":
            bits, soft = (logits > 0).long(), torch.tanh(logits)
        else:
            u = torch.rand(logits.shape, generator=generator, device=logits.device)
            bits, soft = (u < torch.sigmoid(logits)).long(), torch.tanh(logits / 2)  # E[2 bit - 1]
        return CleanLatent(bits, (2.0 * bits.to(logits.dtype) - 1.0) + (soft - soft.detach()), aux=logits)

    def masked_input(self, clean_input: Tensor, masked: Tensor) -> Tensor:
        return torch.where(masked, torch.zeros_like(clean_input), clean_input)  # a masked bit reads 0

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        cfg, bits = self.config, step.clean.value
        if step.latent_out is None:
            raise ValueError("the bits latent needs a backbone returning token logits and latent_out (latent_stream)")
        lp = self.bit_log_probs(step.latent_out, step.noised.state)  # type: ignore[union-attr]  # (B, K, b, 2)
        nll, weight = self.masked_nll(lp, step)  # (B, K, b), (B,)
        nll = nll.sum((1, 2))  # (B,)
        loss = cfg.latent_weight * (weight * nll if cfg.latent_loss == "nelbo" else nll) / bits[0].numel()
        p = torch.sigmoid(step.clean.aux)  # exact entropy H[q(y_0 | x_0)] of bernoulli bits; sign bits: 0
        entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p)).sum((1, 2)) if cfg.estimator == "bernoulli" else 0
        logs = {"bit_loss": loss.detach().mean(), "bit_ones": bits.float().mean()}  # tensors: no host sync
        return LatentLoss(loss, weight * nll - entropy, logs)

    def network_input(self, state: Tensor) -> Tensor:
        """``(B, K, b)`` states in ``{0, 1, MASK}`` -> ``-1``/``+1`` for bits, ``0`` for masks (float32)."""
        return torch.where(state == MASK, 0.0, 2.0 * state.float() - 1.0)

    def draw(self, latent_out: Tensor, state: Tensor, generator: torch.Generator | None) -> ab.Draw:
        def bernoulli(state: Tensor, where: Tensor) -> Tensor:  # float64 draws of the predicted bits
            p_one = self.bit_log_probs(check_finite(latent_out, "bit logits"), state)[..., 1].double().exp()
            u = torch.rand(p_one.shape, generator=generator, device=p_one.device, dtype=torch.float64)
            return torch.where(where, (u < p_one).long(), state)  # (B, K, b)

        return bernoulli
