"""The ``bits`` latent channel: a binary bit-vector latent with masked diffusion on the bits.

``y_0 in {0, 1}^{K x b}``: an encoder maps ``x_0`` to ``(B, K, d)``, a linear head to ``K x b``
logits ``l``, and the bits are ``1[l > 0]`` (``estimator="sign"``) or ``Bernoulli(sigmoid(l))``
(``estimator="bernoulli"``).  The backbone's latent stream reads each bit as ``-1``/``+1`` and a
masked bit as ``0``; revealed bits carry a straight-through gradient (``tanh``), so the token loss
trains the encoder.  Forward process: each bit is masked independently with probability
``1 - alpha(t_y)`` of the channel's own schedule; the latent head predicts one logit per bit.

Bound: ``-log p(x_0) <= E_q[L_x + L_y] - H[q(y_0 | x_0)]`` where ``L_y`` is the masked-diffusion
NELBO of the bits.  With ``sign`` the encoder is deterministic (``H = 0``); with ``bernoulli`` the
entropy of the bits is exact (a sum of Bernoulli entropies) and is subtracted in ``latent_nelbo``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ladd_core.components.absorbing import Draw, absorb, finalize, posterior_step, reveal_probability, subs_log_probs
from ladd_core.components.encoders import Encoder
from ladd_core.components.latents import LatentChannel, LatentConfig, LatentTrainOutput, Networks
from ladd_core.components.objectives import sample_times
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import check_finite

__all__ = ["MASK", "BitsLatent"]

MASK = 2
"""State id of a masked bit (bits are 0 and 1)."""


class BitsLatent(LatentChannel):
    """Binary latent: ``K`` slots of ``b`` bits from a straight-through encoder, diffused by masking bits.

    Declares ``"joint"`` and ``"joint_bound"``, plus ``"sequential"`` with independent clocks (the bits
    are then generated first by the joint network fed an all-mask token sequence).  Needs a backbone
    with ``"latent_stream"`` (``mmdit``).
    """

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
        self.encoder = encoder
        self.schedule = schedule
        self.head = nn.Linear(encoder.dim, config.bits)  # (d) -> (b) bit logits per slot

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        if getattr(config, "clocks", "independent") == "tied":
            return frozenset({"joint", "joint_bound"})
        return frozenset({"joint", "sequential", "joint_bound"})

    @property
    def num_slots(self) -> int:
        return self.encoder.num_slots

    @property
    def input_dim(self) -> int:
        return self.config.bits

    @property
    def output_dim(self) -> int:
        return self.config.bits

    # -- helpers ---------------------------------------------------------------------------
    def encode(
        self, x0: Tensor, attention_mask: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(bits (B, K, b) long, straight-through +-1 values (B, K, b), logits (B, K, b))``."""
        logits = self.head(self.encoder(x0, attention_mask).float())  # (B, K, b)
        if self.config.estimator == "sign":
            bits = (logits > 0).long()
            soft = torch.tanh(logits)
        else:
            u = torch.rand(logits.shape, generator=generator, device=logits.device)
            bits = (u < torch.sigmoid(logits)).long()
            soft = torch.tanh(logits / 2)  # E[2 bit - 1]
        hard = 2.0 * bits.to(logits.dtype) - 1.0
        return bits, hard + (soft - soft.detach()), logits

    def network_input(self, state: Tensor) -> Tensor:
        """``(B, K, b)`` states in ``{0, 1, MASK}`` -> ``-1``/``+1`` for bits, ``0`` for masks (float32)."""
        return torch.where(state == MASK, 0.0, 2.0 * state.float() - 1.0)

    def bit_log_probs(self, latent_out: Tensor, state: Tensor) -> Tensor:
        """SUBS ``log p(bit_0 | state)`` ``(B, K, b, 2)`` float32: a Dirac at revealed bits."""
        logit = latent_out.float()
        lp = torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=-1)  # (B, K, b, 2)
        return subs_log_probs(lp, state, MASK)

    def _t_y(self, t_x: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.config.clocks == "tied" or not self.training:  # eval: tied clocks = the joint schedule's bound
            return t_x
        b = t_x.shape[0]
        t = sample_times(b, t_min=self.config.t_min, low_discrepancy=True, device=t_x.device, generator=generator)
        return t[torch.randperm(b, generator=generator, device=t_x.device)].to(t_x.dtype)

    # -- training --------------------------------------------------------------------------
    def training_forward(
        self,
        nets: Networks,
        x0: Tensor,
        x_t: Tensor,
        t_x: Tensor,
        attention_mask: Tensor,
        generator: torch.Generator | None = None,
        *,
        stage: int = 1,
    ) -> LatentTrainOutput:
        cfg = self.config
        bits, st_values, logits = self.encode(x0, attention_mask, generator)
        t_y = self._t_y(t_x, generator)
        state, masked = absorb(bits, self.schedule.alpha(t_y), MASK, generator=generator)  # (B, K, b)
        y_in = torch.where(masked, torch.zeros_like(st_values), st_values)  # gradients reach the encoder
        out = nets.backbone(x_t, y_in, t_x, t_y, attention_mask)
        if out.token_logits is None or out.latent_out is None:
            raise ValueError("the bits latent needs a backbone returning token logits and latent_out (latent_stream)")
        lp = self.bit_log_probs(out.latent_out, state)  # (B, K, b, 2)
        nll = (-lp.gather(-1, bits[..., None]).squeeze(-1)).masked_fill(~masked, 0.0)  # (B, K, b)
        weight = self.schedule.masked_elbo_weight(t_y.clamp_min(cfg.t_min))  # (B,)
        diffusion = weight * nll.sum((1, 2))  # (B,) nats
        n_bits = bits.shape[1] * bits.shape[2]
        if cfg.latent_loss == "nelbo":
            loss = cfg.latent_weight * diffusion / n_bits
        else:
            loss = cfg.latent_weight * nll.sum((1, 2)) / n_bits
        entropy = torch.zeros_like(diffusion)
        if cfg.estimator == "bernoulli":  # exact entropy of the encoder's bits, H[q(y_0 | x_0)]
            p = torch.sigmoid(logits)
            entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p)).sum((1, 2))
        logs = {"bit_loss": float(loss.detach().mean()), "bit_ones": float(bits.float().mean())}
        if int(masked.sum()) > 0:
            with torch.no_grad():
                hit = (lp.argmax(-1) == bits) & masked
                logs["bit_acc"] = float(hit.sum() / masked.sum())
        return LatentTrainOutput(out.token_logits, loss, diffusion - entropy, logs)

    # -- sampling API ----------------------------------------------------------------------
    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """All-mask bits ``(B, K, b)``."""
        return torch.full((batch_size, self.num_slots, self.config.bits), MASK, dtype=torch.long, device=device)

    def _bernoulli(self, latent_out: Tensor, generator: torch.Generator | None) -> Draw:
        """A :data:`~ladd_core.components.absorbing.Draw` of float64 Bernoulli bits from the predicted logits."""

        def draw(state: Tensor, where: Tensor) -> Tensor:
            p_one = self.bit_log_probs(check_finite(latent_out, "bit logits"), state)[..., 1].double().exp()
            u = torch.rand(p_one.shape, generator=generator, device=p_one.device, dtype=torch.float64)
            return torch.where(where, (u < p_one).long(), state)  # (B, K, b)

        return draw

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Masked posterior step: a masked bit is revealed w.p. ``(a_s - a_t) / (1 - a_t)``."""
        p_reveal = reveal_probability(self.schedule, t, s, state.dim())  # (B, 1, 1)
        return posterior_step(state, MASK, p_reveal, self._bernoulli(latent_out, generator), generator)

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Reveal every bit still masked."""
        return finalize(state, MASK, self._bernoulli(latent_out, generator))

    def predict_latent(self, nets: Networks, state: Tensor, t_y: Tensor, token_prior: Tensor) -> Tensor:
        """Bit logits from the joint network fed the all-mask ``token_prior (B, L)`` at ``t_x = 1``."""
        t_x = torch.ones(state.shape[0], device=state.device)
        out = nets.backbone(token_prior, self.network_input(state), t_x, t_y.float(), None)
        if out.latent_out is None:
            raise ValueError("the backbone returned no latent_out")
        return out.latent_out

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """The clean bits as the latent stream, with ``t_y = 0``."""
        return self.network_input(state), torch.zeros(state.shape[0], device=state.device)
