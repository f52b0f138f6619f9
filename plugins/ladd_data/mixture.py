"""``mixture``: binary sequences with a *discrete* hidden cause, and their exact likelihood.

A held-out style for the latent models, unlike the sawtooth's continuous phase: each sequence first draws
one of ``C`` classes uniformly, then every position independently from that class's Bernoulli profile
``p_c (L,)``.  The profiles are fixed by ``profile_seed``: smooth random curves (a few random cosines
with random frequencies, squashed into ``[floor, 1 - floor]``).  Given the class the tokens are independent,
marginally they are strongly correlated; a masked-diffusion sampler at N = 1 draws every position from its
marginal (a blur of all classes), a latent that carries the class can sample each sequence from one profile.

``log p(x) = log (1/C) sum_c prod_i p_ci^x_i (1 - p_ci)^(1 - x_i)``, exactly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import DataConfig
from ladd_data._synthetic import SyntheticSource
from ladd_data._util import mix_seed
from ladd_tokenizers.binary import BinaryTokenizer

__all__ = ["Mixture", "mixture_profiles"]


def mixture_profiles(classes: int, seq_len: int, waves: int, floor: float, seed: int) -> Tensor:
    """The class profiles ``(C, L)`` float64.

    ``p_ci = floor + (1 - 2 floor) sigmoid(3 sum_j a_cj cos(2 pi f_cj i / L + phi_cj))``.
    """
    g = torch.Generator().manual_seed(mix_seed("mixture-profiles", seed))
    i = torch.arange(seq_len, dtype=torch.float64)
    freq = torch.randint(1, 5, (classes, waves, 1), generator=g).double()  # (C, W, 1) cycles per sequence
    phase = 2 * math.pi * torch.rand(classes, waves, 1, generator=g, dtype=torch.float64)
    amp = torch.randn(classes, waves, 1, generator=g, dtype=torch.float64) / math.sqrt(waves)
    curve = (amp * torch.cos(2 * math.pi * freq * i / seq_len + phase)).sum(1)  # (C, L)
    return floor + (1.0 - 2.0 * floor) * torch.sigmoid(3.0 * curve)


class Mixture(SyntheticSource):
    """Binary sequences from a uniform mixture of ``classes`` fixed Bernoulli profiles (exact likelihood)."""

    class Config(DataConfig):
        name: Literal["mixture"] = "mixture"
        classes: int = Field(16, ge=1, description="C, number of hidden classes")
        waves: int = Field(3, ge=1, description="random cosines summed into each class profile")
        floor: float = Field(0.02, ge=0.0, lt=0.5, description="profiles range over [floor, 1 - floor]")
        profile_seed: int = Field(0, description="seed of the class profiles (the data-generating process)")
        train_size: int = Field(204_800, ge=1, description="training sequences per epoch")
        val_size: int = Field(20_480, ge=0, description="validation sequences")
        val_seed: int = Field(0, description="seed of the fixed validation set")

    config: Config
    stream: ClassVar[str] = "mixture"

    def __init__(self, config: Config, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, work_dir)
        self._tokenizer = BinaryTokenizer()
        c = config
        self.profiles = mixture_profiles(c.classes, c.seq_len, c.waves, c.floor, c.profile_seed)  # (C, L)

    @property
    def tokenizer(self) -> BinaryTokenizer:
        return self._tokenizer

    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` sequences ``(n, L)`` long and their classes ``(n,)``."""
        cls = torch.randint(0, self.config.classes, (n,), generator=generator)
        p = self.profiles[cls]  # (n, L)
        x = torch.rand(p.shape, generator=generator, dtype=torch.float64) < p
        return x.long(), cls

    def class_log_likelihood(self, tokens: Tensor) -> Tensor:
        """``log p(x | c)`` for every class, ``(B, C)`` float64."""
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (B, {self.seq_len}), got {tuple(tokens.shape)}")
        if ((tokens != 0) & (tokens != 1)).any():
            raise ValueError("mixture tokens must be 0 or 1")
        p = self.profiles.to(tokens.device)
        log_p, log_q = p.log(), torch.log1p(-p)  # (C, L)
        return tokens.double() @ (log_p - log_q).T + log_q.sum(1)  # (B, L) @ (L, C) -> (B, C)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x)`` in nats, ``(B,)`` float64."""
        scores = self.class_log_likelihood(tokens)
        return torch.logsumexp(scores, dim=1) - math.log(self.config.classes)
