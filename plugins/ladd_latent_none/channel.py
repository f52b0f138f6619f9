"""The ``none`` latent channel."""

from __future__ import annotations

from typing import Literal

import torch

from ladd_core.components.latents import LatentBatch, LatentChannel, LatentConfig, LatentTrainOutput, Networks

__all__ = ["NoLatent"]


class NoLatent(LatentChannel):
    """No latent: the denoiser sees tokens only (MDLM).  Declares ``"no_latent"``."""

    class Config(LatentConfig):
        name: Literal["none"] = "none"

    capabilities = frozenset({"no_latent"})

    @property
    def num_slots(self) -> int:
        return 0

    def training_forward(self, nets: Networks, batch: LatentBatch, *, stage: int = 1) -> LatentTrainOutput:
        out = nets.backbone(batch.x_t, None, batch.t_x, None, batch.attention_mask)
        assert out.token_logits is not None
        return LatentTrainOutput(out.token_logits, torch.zeros(batch.x0.shape[0], device=batch.x0.device), None)
