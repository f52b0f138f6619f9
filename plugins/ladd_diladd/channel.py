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
from pydantic import Field, model_validator
from torch import Tensor, nn

from ladd_core.capability import Capability
from ladd_core.components.absorbing import NEG, absorb
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_process import encoder_phase
from ladd_core.components.latents import LatentBatch, LatentConfig, LatentProbe, Networks, code_usage
from ladd_core.components.schedules import Schedule
from ladd_core.config.base import ComponentConfig, Ref, ref
from ladd_diladd.process import VQProcess
from ladd_diladd.quantizer import VectorQuantizer

__all__ = ["NEG", "VQLatent"]


class _MaskVector(nn.Module):
    """Holds ``z_mask (D,)`` so that it can be selected as a trainable module on its own."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.vector = nn.Parameter(torch.zeros(dim))


class VQLatent(VQProcess):
    """Di-LADD: VQ codes of an encoder, diffused by masking (``"joint"``, ``"sequential"``, ``"joint_bound"``).

    Training step: ``z_e = encoder(x_0, hide)``, ``c_0 = VQ(z_e)``, ``c_t`` = each code masked w.p.
    ``1 - alpha(t_y)``; the backbone reads ``x_t`` and the code vectors of ``c_t`` (unit codebook
    vector or ``z_mask``) and returns token logits and code logits (the core schedule's calls,
    :mod:`ladd_core.components.latent_schedule`).  With ``two_stage`` training, stage 1 optimises
    tokens + VQ loss (encoder, codebook, backbone, ``z_mask``) and stage 2 freezes the encoder and the
    codebook and adds the code loss.  The encoder is deterministic, so ``L_x + L_y`` bounds
    ``-log p(x_0)`` (entropy term 0).
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

        code_loss_rows: float = Field(
            1.0,
            gt=0.0,
            le=1.0,
            description=(
                "target=sequential: share of each training batch's rows that get the code pass (and the code "
                "loss, rescaled to an unbiased batch mean); below 1 the code pass costs less, its gradient is "
                "noisier (1 = every row, as before; eval always uses every row)"
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

        @model_validator(mode="after")
        def _stage1_latent_needs_joint(self) -> VQLatent.Config:
            if self.target == "sequential" and self.stage1_latent == "clean":  # "noised", the default, is inert
                raise ValueError(
                    "stage1_latent applies to target='joint' only: with target='sequential' the token pass always "
                    "reads the clean codes at t_y = 0 (in stage 1 as well), so the setting would change nothing"
                )
            return self

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
        """Of the schedules implemented: not joint with ``target: sequential``, not sequential with tied clocks."""
        if not isinstance(config, cls.Config):
            raise TypeError(f"VQLatent.capabilities_for needs a VQLatent.Config, got {type(config).__name__}")
        caps = super().capabilities_for(config, has_latent_denoiser=has_latent_denoiser) | {Capability.JOINT_BOUND}
        if config.target == "sequential":
            return caps - {Capability.JOINT}
        return caps - {Capability.SEQUENTIAL} if config.clocks == "tied" else caps

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

    def probe(self, nets: Networks, batch: LatentBatch, t_y: Tensor | None = None) -> LatentProbe:
        """Clean codes at ``t_y = 0`` (or the codes masked to ``t_y``) vs all-mask codes at ``t_y = 1``, and the
        codes in use over the batch.

        With ``target: sequential`` the token network is never trained on all-mask codes, so the
        reference is off its training distribution; ``latent_code_perplexity`` is the primary signal there.
        """
        codes = self.encode_codes(batch.x0, batch.attention_mask)  # (B, K)
        stats = {"latent_code_perplexity": code_usage(codes, self.num_codes)["perplexity"]}
        null = torch.full_like(codes, self.mask_id)
        informed_t = torch.zeros_like(batch.t_x) if t_y is None else t_y
        seen = codes
        if t_y is not None:  # each code masked w.p. 1 - alpha(t_y); none at t_y = 0
            seen, _ = absorb(codes, self.schedule.alpha(t_y), self.mask_id, generator=batch.generator)
        return LatentProbe(
            self.code_vectors(seen),
            informed_t,
            self.code_vectors(null),
            torch.ones_like(batch.t_x),
            stats,
        )

    def trainable_modules(self, stage: int, nets: Networks) -> list[nn.Module]:
        mods: list[nn.Module] = [nets.backbone, self.mask]
        if nets.latent_denoiser is not None:
            mods.append(nets.latent_denoiser)
        if self.encoder.trainable and encoder_phase(self.config.two_stage, stage):
            mods += [self.encoder, self.proj]
        return mods
