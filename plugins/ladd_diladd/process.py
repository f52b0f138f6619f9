"""Masked diffusion on vector-quantised codes: the process pieces of the ``vq`` channel (Di-LADD).

Training pieces for the core schedule (:mod:`ladd_core.components.latent_schedule`): ``c_0 = VQ(encoder(x_0))``,
codes masked w.p. ``1 - alpha(t_y)`` (the shared absorbing process, masked slots read ``z_mask``), the masked
code cross-entropy; the joint or sequential plan and clocks of the config.  Sampling pieces: all-mask prior,
posterior steps and the final fill, drawn in float64.  :class:`ladd_diladd.channel.VQLatent` holds the modules
and the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ladd_core.components.absorbing import NEG, Draw, softmax_categorical, subs_log_probs
from ladd_core.components.absorbing_latent import AbsorbingLatent
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_process import (
    CleanLatent,
    LatentLoss,
    LatentStep,
    TrainPlan,
    encoder_phase,
    latent_phase,
)
from ladd_core.components.latents import Networks
from ladd_core.components.schedules import Schedule
from ladd_diladd.quantizer import VectorQuantizer

if TYPE_CHECKING:
    from ladd_diladd.channel import VQLatent

__all__ = ["VQProcess"]


class VQProcess(AbsorbingLatent):
    """The process pieces of :class:`~ladd_diladd.channel.VQLatent` (which sets the attributes below)."""

    config: VQLatent.Config
    encoder: Encoder
    schedule: Schedule
    proj: nn.Module
    quantizer: VectorQuantizer
    mask: nn.Module
    mask_id: int

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.num_slots,)

    def masked_input(self, clean_input: Tensor, masked: Tensor) -> Tensor:
        """Masked slots read ``z_mask``."""
        return torch.where(masked[..., None], self.mask.vector.to(clean_input.dtype), clean_input)  # (B, K, D)

    def draw(self, latent_out: Tensor, state: Tensor, generator: torch.Generator | None) -> Draw:
        """Codes from the SUBS code distribution: at a masked slot the softmax over the codebook (dense float64
        draws, kept where the step reveals; a non-finite row raises)."""
        return softmax_categorical(self._code_logits(latent_out), generator)

    def code_vectors(self, codes: Tensor) -> Tensor:
        """``(B, K)`` ids with mask id ``C`` -> ``(B, K, D)``: unit codebook vector, or ``z_mask`` at masks."""
        masked = codes == self.mask_id
        vec = self.quantizer.lookup(codes.clamp_max(self.mask_id - 1))  # (B, K, D)
        return torch.where(masked[..., None], self.mask.vector.to(vec.dtype), vec)

    def code_log_probs(self, code_logits: Tensor, codes: Tensor) -> Tensor:
        """SUBS: ``log p(c_0 | c_t)`` ``(B, K, C)`` float32; Dirac at revealed codes, mask id excluded.

        ``code_logits`` may have width ``C`` or ``C + 1`` (a trailing mask column is dropped).
        """
        lp = torch.log_softmax(self._code_logits(code_logits).float(), dim=-1).clamp_min(NEG)  # (B, K, C)
        return subs_log_probs(lp, codes, self.mask_id)

    def _code_logits(self, code_logits: Tensor) -> Tensor:
        """The ``C`` code columns of ``code_logits (B, K, C or C + 1)`` (a trailing mask column is dropped)."""
        c = self.config.codebook_size
        if code_logits.shape[-1] not in (c, c + 1):
            raise ValueError(f"code logits must have width {c} (or {c + 1}), got {tuple(code_logits.shape)}")
        return code_logits[..., :c]

    # -- process pieces of the core training schedule ------------------------------------
    @property
    def context_share(self) -> float:
        return self.config.code_context

    @property
    def latent_rows(self) -> float:
        return self.config.code_loss_rows

    def plan(self, stage: int, nets: Networks) -> TrainPlan:
        """Joint, or (``target: sequential``) tokens from clean codes + codes from the all-mask ``x``.

        Stage 1 of a two-stage recipe has no code loss: the sequential target then skips the code pass in
        training, and ``stage1_latent: clean`` feeds the token pass the clean codes at ``t_y = 0``.
        """
        cfg = self.config
        stage1 = not latent_phase(cfg.two_stage, stage)  # no code loss yet
        if cfg.target == "sequential":
            on = not (self.training and stage1)
            return TrainPlan(joint=False, latent=on, draw=on)
        if stage1 and cfg.stage1_latent == "clean":
            return TrainPlan(joint=False, latent=False, draw=False)
        return TrainPlan()

    def independent_clock(self, joint: bool) -> bool:
        """Sequential target: always; joint: ``clocks``, and ``eval_clocks`` in eval mode."""
        if not joint:
            return True
        if not self.training and self.config.eval_clocks == "tied":
            return False
        return self.config.clocks == "independent"

    def encode_latent(
        self, x0: Tensor, x_t: Tensor, attention_mask: Tensor, stage: int, generator: torch.Generator | None
    ) -> CleanLatent:
        """``c_0 = VQ(proj(encoder(x_0, hide)))``; the encoder and codebook learn only in the encoder phase."""
        cfg = self.config
        attn = attention_mask.bool()
        hide = None
        if self.training and cfg.p_mask_input_enc > 0:
            u = torch.rand(x0.shape, generator=generator, device=x0.device)
            hide = (u < cfg.p_mask_input_enc) & attn  # (B, L)
        learn = encoder_phase(cfg.two_stage, stage)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.encoder.trainable and learn):
            z_e = self.proj(self.encoder(x0, attn, hide))  # (B, K, D)
        vq = self.quantizer(z_e, update=self.training and learn, generator=generator)
        logs: dict[str, Tensor | float] = {
            "vq_loss": vq.commit_loss.detach().mean(),  # a tensor: reduced only when logged
            "vq_utilisation": vq.utilisation,
            "vq_perplexity": vq.perplexity,
            "vq_unique_fraction": vq.unique_fraction,
            "vq_replaced": float(vq.replaced),
        }
        return CleanLatent(vq.codes, vq.z_q, vq.commit_loss, logs)  # codes (B, K), vectors (B, K, D)

    def latent_loss(self, step: LatentStep) -> LatentLoss:
        """Masked CE of the codes (``/ K``, NELBO-weighted with ``latent_loss: nelbo``) and its NELBO in nats."""
        cfg = self.config
        b, device = step.keep.shape[0], step.keep.device
        if step.latent_out is None:
            if step.plan.latent:
                raise ValueError("the vq latent needs a backbone returning token logits and latent_out (latent_stream)")
            return LatentLoss(torch.zeros(b, device=device), None, {"code_loss": 0.0})
        assert step.noised is not None and step.times is not None
        c0, c_t, masked = step.clean.value, step.noised.state, step.noised.noise  # (B, K) each
        log_p = self.code_log_probs(step.latent_out, c_t)  # (B, K, C)
        nll, weight = self.masked_nll(log_p, step)  # (B, K), (B,)
        k = c0.shape[1]
        if not latent_phase(cfg.two_stage, step.stage):
            code_loss = torch.zeros(b, device=device)
        elif cfg.latent_loss == "nelbo":
            code_loss = cfg.latent_weight * weight * nll.sum(-1) / k
        else:
            code_loss = cfg.latent_weight * nll.sum(-1) / k
        logs: dict[str, Tensor | float] = {"code_loss": code_loss.detach().mean()}
        n_masked = masked.sum().clamp_min(1)  # no host sync: 0 / 1 when no code is masked
        with torch.no_grad():
            hit = (log_p.argmax(-1) == c0) & masked
            logs["code_nll"] = nll.detach().sum() / n_masked
            logs["code_acc"] = hit.sum() / n_masked
        return LatentLoss(code_loss, (weight * nll.sum(-1)).detach(), logs)

    # -- sampling API --------------------------------------------------------------
    def network_input(self, state: Tensor) -> Tensor:
        return self.code_vectors(state)

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """With ``prompt_codes = "encoder"``: the nearest codes ``(B, K)`` of the encoder's output for the visible
        tokens (the rest hidden), one call; otherwise ``None`` (the code chain reads the prompt)."""
        if self.config.prompt_codes != "encoder":
            return None
        x_in = tokens.masked_fill(~visible, 0)  # (B, L); hidden ids are never read
        return self.quantizer.assign(self.proj(self.encoder(x_in, torch.ones_like(visible), ~visible)))
