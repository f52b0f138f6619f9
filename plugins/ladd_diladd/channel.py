"""The ``vq`` latent channel: Di-LADD, masked diffusion on vector-quantised codes (method notes §2.3, App. B).

``y_0`` is ``K`` codes ``c_0 in {0..C-1}^K`` from a cosine VQ of the encoder output;
the extra id ``C`` is the latent mask, represented by a learnable vector ``z_mask``
(init 0).  Codes are masked independently with keep probability ``alpha(t_y)`` of the
channel's own schedule; the backbone's latent head predicts ``C`` code logits per slot
(SUBS: a Dirac on the code at revealed slots; the mask id is never a target).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ladd_core.components.absorbing import (
    NEG,
    absorb,
    dense_categorical,
    finalize,
    posterior_step,
    reveal_probability,
    subs_log_probs,
)
from ladd_core.components.backbones import BackboneOutput
from ladd_core.components.encoders import Encoder
from ladd_core.components.latents import (
    LatentChannel,
    LatentConfig,
    LatentProbe,
    LatentTrainOutput,
    Networks,
    code_usage,
)
from ladd_core.components.objectives import sample_times
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_core.numerics import check_finite
from ladd_diladd.quantizer import VectorQuantizer

__all__ = ["NEG", "VQLatent"]


class _MaskVector(nn.Module):
    """Holds ``z_mask (D,)`` so that it can be selected as a trainable module on its own."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.vector = nn.Parameter(torch.zeros(dim))


class VQLatent(LatentChannel):
    """Di-LADD: VQ codes of an encoder, diffused by masking (``"joint"``, ``"sequential"``, ``"joint_bound"``).

    Training step: ``z_e = encoder(x_0, hide)``, ``c_0 = VQ(z_e)``, ``c_t`` = each code masked w.p.
    ``1 - alpha(t_y)``; the backbone reads ``x_t`` and the code vectors of ``c_t`` (unit codebook
    vector or ``z_mask``) and returns token logits and code logits.  With ``two_stage`` training,
    stage 1 optimises tokens + VQ loss (encoder, codebook, backbone, ``z_mask``) and stage 2 freezes
    the encoder and the codebook and adds the code loss.  The encoder is deterministic, so
    ``L_x + L_y`` bounds ``-log p(x_0)`` (entropy term 0).
    """

    class Config(LatentConfig):
        name: Literal["vq"] = "vq"
        encoder: Annotated[ComponentConfig, Ref("encoder")] = ref("encoder", "transformer")
        schedule: Annotated[ComponentConfig, Ref("schedule")] = ref(
            "schedule", "polynomial", description="code-masking schedule; alpha(t) = keep probability"
        )
        codebook_size: int = Field(512, ge=2, description="C, number of codes (the mask id is C)")
        code_dim: int | None = Field(
            None, ge=1, description="D; None = the encoder's dim (otherwise a learned projection d -> D)"
        )
        ema_decay: float = Field(0.95, gt=0.0, lt=1.0, description="EMA decay of the codebook")
        commitment: float = Field(0.25, ge=0.0, description="weight of the commitment loss")
        dead_threshold: float = Field(
            2.0, ge=0.0, description="EMA cluster size (inputs per batch) below which a code is re-seeded; 0 = off"
        )
        kmeans_iters: int = Field(10, ge=0, description="Lloyd iterations of the k-means init on the first batch")
        p_mask_input_enc: float = Field(
            0.0, ge=0.0, lt=1.0, description="fraction of encoder input tokens hidden during training"
        )
        clocks: Literal["independent", "tied"] = Field(
            "independent", description="t_y drawn independently of t_x (supports sequential sampling) or t_y = t_x"
        )
        eval_clocks: Literal["tied", "train"] = Field(
            "tied", description="clocks in eval mode: tied makes L_x + L_y the joint schedule's bound"
        )
        latent_loss: Literal["masked-ce", "nelbo"] = Field(
            "masked-ce", description="code loss: unweighted masked CE / K, or NELBO-weighted CE / K"
        )
        latent_weight: float = Field(1.0, ge=0.0, description="lambda, weight of the code loss")
        two_stage: bool = Field(
            True, description="stage 1 = tokens + VQ loss; stage >= 2 = frozen encoder/codebook + code loss"
        )
        stage1_latent: Literal["noised", "clean"] = Field(
            "noised", description="what the latent stream reads in stage 1: masked codes c_t (App. B) or clean codes"
        )
        t_min: float = Field(1e-4, gt=0.0, lt=1.0, description="t_y is drawn in [t_min, 1]")
        target: Literal["joint", "sequential"] = Field(
            "joint",
            description=(
                "inference schedule trained for: joint (codes and tokens read each other's noised states) or "
                "sequential (tokens read clean codes at t_y = 0; codes are predicted from an all-mask x at "
                "t_x = 1, as the sequential sampler calls the network; a second network call per step once "
                "the code loss is on)"
            ),
        )

        code_context: float = Field(
            0.0,
            ge=0.0,
            le=1.0,
            description=(
                "target=sequential: share of training examples whose code pass reads the token pass's randomly "
                "masked x_t at t_x instead of the all-mask x at t_x = 1, so the code chain learns to generate "
                "codes given a prompt (0 = off, as before; eval mode always reads the all-mask x, so the "
                "reported bound stays the sequential one)"
            ),
        )

        prompt_codes: Literal["chain", "encoder"] = Field(
            "chain",
            description=(
                "sequential sampling with a prompt/template: chain = the code chain reads the prompt (see "
                "code_context); encoder = the codes of the encoder applied to the visible tokens with the rest "
                "hidden (one call; trained for hiding only with p_mask_input_enc > 0)"
            ),
        )

    config: Config
    backbone_requires = frozenset({"latent_stream"})

    def __init__(self, config: Config, encoder: Encoder, schedule: Schedule) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.schedule = schedule
        d = encoder.dim
        self.code_dim = config.code_dim or d
        self.proj: nn.Module = nn.Identity() if self.code_dim == d else nn.Linear(d, self.code_dim)
        self.quantizer = VectorQuantizer(
            config.codebook_size,
            self.code_dim,
            decay=config.ema_decay,
            commitment=config.commitment,
            dead_threshold=config.dead_threshold,
            kmeans_iters=config.kmeans_iters,
        )
        self.mask = _MaskVector(self.code_dim)
        self.mask_id = config.codebook_size

    @classmethod
    def capabilities_for(cls, config: LatentConfig, *, has_latent_denoiser: bool = False) -> frozenset[str]:
        if getattr(config, "target", "joint") == "sequential":
            return frozenset({"sequential", "joint_bound", "codes"})
        if getattr(config, "clocks", "independent") == "tied":
            return frozenset({"joint", "joint_bound", "codes"})
        return frozenset({"joint", "sequential", "joint_bound", "codes"})

    @property
    def num_slots(self) -> int:
        return self.encoder.num_slots

    @property
    def input_dim(self) -> int:
        return self.code_dim

    @property
    def output_dim(self) -> int:
        return self.config.codebook_size

    @property
    def num_codes(self) -> int:
        return self.config.codebook_size

    @torch.no_grad()
    def encode_codes(self, x0: Tensor, attention_mask: Tensor) -> Tensor:
        """Codes ``(B, K)`` of clean ``x0 (B, L)``: encoder, projection, nearest code (no hiding, no EMA update)."""
        return self.quantizer.assign(self.proj(self.encoder(x0, attention_mask.bool())))

    # -- helpers ---------------------------------------------------------------
    def _stage1(self, stage: int) -> bool:
        return self.config.two_stage and stage <= 1

    def _encoder_phase(self, stage: int) -> bool:
        return not self.config.two_stage or stage <= 1

    def code_vectors(self, codes: Tensor) -> Tensor:
        """``(B, K)`` ids with mask id ``C`` -> ``(B, K, D)``: unit codebook vector, or ``z_mask`` at masks."""
        masked = codes == self.mask_id
        vec = self.quantizer.lookup(codes.clamp_max(self.mask_id - 1))  # (B, K, D)
        return torch.where(masked[..., None], self.mask.vector.to(vec.dtype), vec)

    def code_log_probs(self, code_logits: Tensor, codes: Tensor) -> Tensor:
        """SUBS: ``log p(c_0 | c_t)`` ``(B, K, C)`` float32; Dirac at revealed codes, mask id excluded.

        ``code_logits`` may have width ``C`` or ``C + 1`` (a trailing mask column is dropped).
        """
        c = self.config.codebook_size
        if code_logits.shape[-1] not in (c, c + 1):
            raise ValueError(f"code logits must have width {c} (or {c + 1}), got {tuple(code_logits.shape)}")
        lp = torch.log_softmax(code_logits[..., :c].float(), dim=-1).clamp_min(NEG)  # (B, K, C)
        return subs_log_probs(lp, codes, self.mask_id)

    def _t_y(self, t_x: Tensor, generator: torch.Generator | None) -> Tensor:
        clocks = self.config.clocks
        if not self.training and self.config.eval_clocks == "tied":
            clocks = "tied"
        if clocks == "tied":
            return t_x
        return self._t_y_independent(t_x.shape[0], t_x.device, generator).to(t_x.dtype)

    def _t_y_independent(self, b: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
        t = sample_times(b, t_min=self.config.t_min, low_discrepancy=True, device=device, generator=generator)
        perm = torch.randperm(b, generator=generator, device=device)  # decorrelate from t_x's strata
        return t[perm]

    # -- training --------------------------------------------------------------
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
        b, device = x0.shape[0], x0.device
        attn = attention_mask.bool()
        hide = None
        if self.training and cfg.p_mask_input_enc > 0:
            u = torch.rand(x0.shape, generator=generator, device=device)
            hide = (u < cfg.p_mask_input_enc) & attn  # (B, L)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.encoder.trainable and self._encoder_phase(stage)):
            z_e = self.proj(self.encoder(x0, attn, hide))  # (B, K, D)
        vq = self.quantizer(z_e, update=self.training and self._encoder_phase(stage), generator=generator)
        c0 = vq.codes  # (B, K)
        if cfg.target == "sequential":
            token_logits, code_logits, c_t, t_y = self._sequential_calls(
                nets, vq.z_q, c0, x_t, t_x, attention_mask, generator, stage
            )
        else:
            token_logits, code_logits, c_t, t_y = self._joint_call(
                nets, vq.z_q, c0, x_t, t_x, attention_mask, generator, stage
            )
        masked = c_t == self.mask_id  # (B, K)
        logs = {
            "vq_loss": float(vq.commit_loss.detach().mean()),
            "vq_utilisation": vq.utilisation,
            "vq_perplexity": vq.perplexity,
            "vq_unique_fraction": vq.unique_fraction,
            "vq_replaced": float(vq.replaced),
        }
        if code_logits is None:  # stage 1 with clean codes: no code term
            logs["code_loss"] = 0.0
            return LatentTrainOutput(token_logits, vq.commit_loss, None, logs)  # (B,) per example
        log_p = self.code_log_probs(code_logits, c_t)  # (B, K, C)
        nll = (-log_p.gather(-1, c0[..., None]).squeeze(-1)).masked_fill(~masked, 0.0)  # (B, K)
        weight = self.schedule.masked_elbo_weight(t_y.clamp_min(cfg.t_min))  # (B,)
        latent_nelbo = (weight * nll.sum(-1)).detach()  # (B,) nats
        k = c0.shape[1]
        if self._stage1(stage):
            code_loss = torch.zeros(b, device=device)
        elif cfg.latent_loss == "nelbo":
            code_loss = cfg.latent_weight * weight * nll.sum(-1) / k
        else:
            code_loss = cfg.latent_weight * nll.sum(-1) / k
        logs["code_loss"] = code_loss.detach().mean()
        n_masked = masked.sum()
        if int(n_masked) > 0:
            with torch.no_grad():
                hit = (log_p.argmax(-1) == c0) & masked
                logs["code_nll"] = nll.detach().sum() / n_masked
                logs["code_acc"] = hit.sum() / n_masked
        return LatentTrainOutput(token_logits, code_loss + vq.commit_loss, latent_nelbo, logs)

    def _mask_codes(
        self, c0: Tensor, z_q: Tensor, t_y: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """``c_t`` (each code masked w.p. ``1 - alpha(t_y)``) and its code vectors ``(B, K, D)``."""
        c_t, masked = absorb(c0, self.schedule.alpha(t_y), self.mask_id, generator=generator)  # (B, K)
        y_in = torch.where(masked[..., None], self.mask.vector.to(z_q.dtype), z_q)  # (B, K, D)
        return c_t, y_in

    @staticmethod
    def _outputs(out: BackboneOutput, tokens: bool, codes: bool) -> BackboneOutput:
        if (tokens and out.token_logits is None) or (codes and out.latent_out is None):
            raise ValueError("the vq latent needs a backbone returning token logits and latent_out (latent_stream)")
        return out

    def _joint_call(
        self,
        nets: Networks,
        z_q: Tensor,
        c0: Tensor,
        x_t: Tensor,
        t_x: Tensor,
        attn: Tensor,
        gen: torch.Generator | None,
        stage: int,
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """One call on ``(x_t, c_t)``: token logits, code logits (``None``: stage-1 clean codes), ``c_t``, ``t_y``."""
        if self._stage1(stage) and self.config.stage1_latent == "clean":
            out = self._outputs(nets.backbone(x_t, z_q, t_x, torch.zeros_like(t_x), attn), True, False)
            return out.token_logits, None, c0, torch.zeros_like(t_x)  # type: ignore[return-value]
        t_y = self._t_y(t_x, gen)
        c_t, y_in = self._mask_codes(c0, z_q, t_y, gen)
        out = self._outputs(nets.backbone(x_t, y_in, t_x, t_y, attn), True, True)
        return out.token_logits, out.latent_out, c_t, t_y  # type: ignore[return-value]

    def _sequential_calls(
        self,
        nets: Networks,
        z_q: Tensor,
        c0: Tensor,
        x_t: Tensor,
        t_x: Tensor,
        attn: Tensor,
        gen: torch.Generator | None,
        stage: int,
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """The sequential bound's two terms (ladd-method.md §4.1): tokens given clean codes at ``t_y = 0``;
        codes given an all-mask ``x`` at ``t_x = 1`` (skipped in stage-1 training, where no code loss is used).
        """
        zeros = torch.zeros_like(t_x)
        tok = self._outputs(nets.backbone(x_t, z_q, t_x, zeros, attn), True, False)
        if self.training and self._stage1(stage):
            return tok.token_logits, None, c0, zeros  # type: ignore[return-value]
        if nets.token_prior is None:
            raise ValueError("target='sequential' needs Networks.token_prior (the all-mask token state)")
        b, length = x_t.shape
        t_y = self._t_y_independent(b, x_t.device, gen)
        c_t, y_in = self._mask_codes(c0, z_q, t_y, gen)
        prior = nets.token_prior(b, length, x_t.device)  # (B, L), as predict_latent feeds it
        t_ctx = torch.ones_like(t_x)
        if self.training and self.config.code_context > 0:
            use_x_t = torch.rand(b, generator=gen, device=x_t.device) < self.config.code_context  # (B,)
            prior = torch.where(use_x_t[:, None], x_t, prior)  # (B, L)
            t_ctx = torch.where(use_x_t, t_x, t_ctx)
        out = self._outputs(nets.backbone(prior, y_in, t_ctx, t_y, None), False, True)
        return tok.token_logits, out.latent_out, c_t, t_y  # type: ignore[return-value]

    def probe(
        self,
        nets: Networks,
        x0: Tensor,
        t_x: Tensor,
        attention_mask: Tensor,
        generator: torch.Generator | None = None,
    ) -> LatentProbe:
        """Clean codes at ``t_y = 0`` vs all-mask codes at ``t_y = 1``, and the codes in use over the batch.

        With ``target: sequential`` the token network is never trained on all-mask codes, so the
        reference is off its training distribution; ``latent_code_perplexity`` is the primary signal there.
        """
        codes = self.encode_codes(x0, attention_mask)  # (B, K)
        stats = {"latent_code_perplexity": code_usage(codes, self.num_codes)["perplexity"]}
        null = torch.full_like(codes, self.mask_id)
        return LatentProbe(
            self.code_vectors(codes), torch.zeros_like(t_x), self.code_vectors(null), torch.ones_like(t_x), stats
        )

    def trainable_modules(self, stage: int, nets: Networks) -> list[nn.Module]:
        mods: list[nn.Module] = [nets.backbone, self.mask]
        if nets.latent_denoiser is not None:
            mods.append(nets.latent_denoiser)
        if self.encoder.trainable and (not self.config.two_stage or stage <= 1):
            mods += [self.encoder, self.proj]
        return mods

    # -- sampling API --------------------------------------------------------------
    def sample_prior(self, batch_size: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """All-mask codes ``(B, K)`` (every entry ``C``)."""
        return torch.full((batch_size, self.num_slots), self.mask_id, dtype=torch.long, device=device)

    def network_input(self, state: Tensor) -> Tensor:
        return self.code_vectors(state)

    def latent_step(
        self, state: Tensor, latent_out: Tensor, t: Tensor, s: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Masked posterior step on codes in float64: a masked code stays masked w.p. ``(1-a_s)/(1-a_t)``."""
        log_p = self.code_log_probs(check_finite(latent_out, "code logits"), state)  # (B, K, C)
        p_reveal = reveal_probability(self.schedule, t, s, state.dim())  # (B, 1)
        return posterior_step(state, self.mask_id, p_reveal, dense_categorical(log_p, generator), generator)

    def latent_finalize(
        self, state: Tensor, latent_out: Tensor, t: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Fill every remaining mask with a draw from the code distribution."""
        log_p = self.code_log_probs(check_finite(latent_out, "code logits"), state)
        return finalize(state, self.mask_id, dense_categorical(log_p, generator))

    def predict_latent(self, nets: Networks, state: Tensor, t_y: Tensor, token_prior: Tensor) -> Tensor:
        """Code logits from the joint network fed the token state ``token_prior (B, L)``.

        Unconditionally that is the all-mask sequence at ``t_x = 1``; given a prompt it is the prompt with
        the rest masked, at ``t_x`` = its masked fraction per row (the time of the linear token schedule;
        the shipped backbones do not read the token time).  A model trained with ``target: sequential``
        reads partially observed tokens in its code pass only when trained with ``code_context > 0``.
        """
        t_x = torch.ones(state.shape[0], device=state.device)
        if nets.token_prior is not None:
            masked = token_prior == nets.token_prior(*token_prior.shape, token_prior.device)  # (B, L)
            t_x = masked.float().mean(-1)
        out = nets.backbone(token_prior, self.network_input(state), t_x, t_y.float(), None)
        if out.latent_out is None:
            raise ValueError("the backbone returned no latent_out")
        return out.latent_out

    def prompt_latent(self, nets: Networks, tokens: Tensor, visible: Tensor) -> Tensor | None:
        """With ``prompt_codes = "encoder"``: the nearest codes ``(B, K)`` of the encoder's output for the visible
        tokens (the rest hidden), one call; otherwise ``None`` (the code chain reads the prompt)."""
        if self.config.prompt_codes != "encoder":
            return None
        x_in = tokens.masked_fill(~visible, 0)  # (B, L); hidden ids are never read
        return self.quantizer.assign(self.proj(self.encoder(x_in, torch.ones_like(visible), ~visible)))

    def token_condition(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """Code vectors of the clean codes and ``t_y = 0``."""
        return self.network_input(state), torch.zeros(state.shape[0], device=state.device)
