"""The ``none`` latent channel."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ladd_core.components.latents import LatentChannel, LatentConfig, LatentTrainOutput, Networks

__all__ = ["NoLatent"]


class NoLatent(LatentChannel):
    """No latent: the denoiser sees tokens only (MDLM).  Declares ``"no_latent"``."""

    class Config(LatentConfig):
        name: Literal["none"] = "none"

    capabilities = frozenset({"no_latent"})

    @property
    def num_slots(self) -> int:
        return 0

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
        out = nets.backbone(x_t, None, t_x, None, attention_mask)
        assert out.token_logits is not None
        return LatentTrainOutput(out.token_logits, torch.zeros(x0.shape[0], device=x0.device), None)
