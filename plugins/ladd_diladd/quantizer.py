"""Cosine-similarity vector quantiser with an EMA codebook, k-means init and dead-code replacement.

Written for Di-LADD (method notes §2.3): the encoder output ``z_e (B, K, D)`` is
mapped to the nearest of ``C`` unit-norm codes by cosine similarity.

* **EMA codebook** (training mode only, under ``no_grad``): with ``n_c`` inputs
  assigned to code ``c`` and ``s_c`` the sum of those (L2-normalised) inputs,
  ``N_c <- d N_c + (1 - d) n_c`` and ``S_c <- d S_c + (1 - d) s_c``; the code is
  ``normalise(S_c / Ñ_c)`` with the Laplace-smoothed size
  ``Ñ_c = (N_c + eps) / (sum N + C eps) * sum N``.
* **k-means init**: on the first training batch, k-means++ seeding and
  ``kmeans_iters`` Lloyd iterations in cosine geometry set the codebook, the
  cluster sizes and the sums.
* **Dead codes**: after each EMA update, codes with ``N_c < dead_threshold`` are
  re-seeded from random current inputs (with ``N_c = dead_threshold``).
* **Straight-through**: ``z_q_st = z_e + sg(z_q - z_e)``, so ``d z_q_st / d z_e = I``.
* **Commitment**: ``weight * mean_{K,D} (z_e - sg(z_q))^2`` per example.

All state is held in plain tensor buffers (``codebook``, ``cluster_size``,
``embed_sum``, ``initialised``), so it round-trips through safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ladd_core.components.latents import code_usage

__all__ = ["VQOutput", "VectorQuantizer", "code_usage_stats"]

LAPLACE_EPS = 1e-5


@dataclass
class VQOutput:
    """Result of quantising ``z_e (B, K, D)``.

    Attributes:
        z_q: ``(B, K, D)`` straight-through quantised vectors (forward value = the unit-norm code).
        codes: ``(B, K)`` long code ids in ``[0, C - 1]``.
        commit_loss: ``(B,)`` weighted commitment loss per example.
        utilisation: fraction of the ``C`` codes used in the batch.
        perplexity: ``exp`` of the entropy of the batch's code histogram (1 .. C).
        unique_fraction: distinct code tuples (rows of ``codes``) over ``B``.
        replaced: number of dead codes re-seeded by this call.
    """

    z_q: Tensor
    codes: Tensor
    commit_loss: Tensor
    utilisation: float
    perplexity: float
    unique_fraction: float
    replaced: int = 0


def code_usage_stats(codes: Tensor, num_codes: int) -> tuple[float, float, float]:
    """``(utilisation, perplexity, unique_fraction)`` of ``codes (B, K)`` over a codebook of ``num_codes``."""
    u = code_usage(codes, num_codes)
    return u["utilisation"], u["perplexity"], u["unique"]


def _normalise(x: Tensor) -> Tensor:
    return F.normalize(x, dim=-1, eps=1e-12)


class VectorQuantizer(nn.Module):
    """Cosine VQ over a codebook of ``num_codes`` unit vectors of width ``dim``.

    Args:
        num_codes: ``C``.
        dim: ``D``.
        decay: EMA decay ``d`` of cluster sizes and sums.
        commitment: weight of the commitment loss.
        dead_threshold: EMA cluster size below which a code is re-seeded (0 = never).
        kmeans_iters: Lloyd iterations of the k-means init (0 = seed from random inputs only).
    """

    codebook: Tensor
    cluster_size: Tensor
    embed_sum: Tensor
    initialised: Tensor

    def __init__(
        self,
        num_codes: int,
        dim: int,
        *,
        decay: float = 0.95,
        commitment: float = 0.25,
        dead_threshold: float = 2.0,
        kmeans_iters: int = 10,
    ) -> None:
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise ValueError(f"num_codes and dim must be >= 1, got {num_codes}, {dim}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        self.num_codes = num_codes
        self.dim = dim
        self.decay = decay
        self.commitment = commitment
        self.dead_threshold = dead_threshold
        self.kmeans_iters = kmeans_iters
        code = _normalise(torch.randn(num_codes, dim))
        self.register_buffer("codebook", code)  # (C, D), unit rows
        self.register_buffer("cluster_size", torch.zeros(num_codes))  # (C,)
        self.register_buffer("embed_sum", code.clone())  # (C, D)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    # -- assignment -------------------------------------------------------------
    def assign(self, z: Tensor) -> Tensor:
        """Nearest code by cosine similarity for ``z (..., D)`` -> ``(...)`` long."""
        sim = _normalise(z.float()) @ _normalise(self.codebook.float()).t()  # (..., C)
        return sim.argmax(dim=-1)

    def lookup(self, codes: Tensor) -> Tensor:
        """Unit-norm code vectors of ids ``codes (...)`` -> ``(..., D)`` (the rows looked up, then normalised: the same
        values as normalising the whole codebook, without the work on the codes not asked for)."""
        return _normalise(self.codebook[codes])

    # -- forward ---------------------------------------------------------------
    def forward(self, z_e: Tensor, *, update: bool | None = None, generator: torch.Generator | None = None) -> VQOutput:
        """Quantise ``z_e (B, K, D)``; updates the codebook after assignment when ``update`` (default: training)."""
        if z_e.shape[-1] != self.dim:
            raise ValueError(f"expected inputs of width {self.dim}, got {tuple(z_e.shape)}")
        update = self.training if update is None else update
        with torch.autocast(z_e.device.type, enabled=False):  # similarities and EMA in float32
            return self._forward(z_e.float(), update, generator)

    def _forward(self, z: Tensor, update: bool, generator: torch.Generator | None) -> VQOutput:
        flat = z.detach().reshape(-1, self.dim)  # (N, D)
        if update and not bool(self.initialised):
            self._kmeans_init(_normalise(flat), generator)
        codes = self.assign(flat).reshape(z.shape[:-1])  # (B, K)
        z_q = self.lookup(codes)  # (B, K, D), no grad (buffer)
        commit = self.commitment * (z - z_q).pow(2).mean(dim=tuple(range(1, z.dim())))  # (B,)
        z_q_st = z + (z_q - z).detach()
        replaced = 0
        if update:
            replaced = self._ema_update(_normalise(flat), codes.reshape(-1), generator)
        util, ppl, uniq = code_usage_stats(codes.reshape(codes.shape[0], -1), self.num_codes)
        return VQOutput(z_q_st, codes, commit, util, ppl, uniq, replaced)

    # -- codebook maintenance --------------------------------------------------
    @torch.no_grad()
    def _kmeans_init(self, x: Tensor, generator: torch.Generator | None) -> None:
        """k-means++ seeding + Lloyd iterations (cosine) on unit rows ``x (N, D)``."""
        n, c = x.shape[0], self.num_codes
        if n >= c:
            centres = _kmeans_pp(x, c, generator)
        else:  # too few inputs: every input is a centre, the rest are duplicates (re-seeded later as dead)
            extra = torch.randint(0, n, (c - n,), generator=generator, device=x.device)
            centres = torch.cat([x, x[extra]])
        for _ in range(self.kmeans_iters):
            assign = (x @ centres.t()).argmax(-1)  # (N,)
            sums = torch.zeros_like(centres).index_add_(0, assign, x)
            counts = torch.bincount(assign, minlength=c)
            centres = torch.where(counts[:, None] > 0, _normalise(sums), centres)
        assign = (x @ centres.t()).argmax(-1)
        counts = torch.bincount(assign, minlength=c).to(self.cluster_size.dtype)
        self.codebook.copy_(centres)
        self.cluster_size.copy_(counts)
        self.embed_sum.copy_(centres * counts[:, None])
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, x: Tensor, codes: Tensor, generator: torch.Generator | None) -> int:
        """EMA of sizes and sums from unit inputs ``x (N, D)`` with ids ``codes (N,)``; then dead-code replacement."""
        d = self.decay
        counts = torch.bincount(codes, minlength=self.num_codes).to(self.cluster_size.dtype)  # (C,)
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, x.to(self.embed_sum.dtype))  # (C, D)
        self.cluster_size.mul_(d).add_(counts, alpha=1 - d)
        self.embed_sum.mul_(d).add_(sums, alpha=1 - d)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + LAPLACE_EPS) / (total + self.num_codes * LAPLACE_EPS) * total
        self.codebook.copy_(_normalise(self.embed_sum / smoothed.clamp_min(1e-30)[:, None]))
        if self.dead_threshold <= 0:
            return 0
        dead = self.cluster_size < self.dead_threshold  # (C,)
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        pick = torch.randint(0, x.shape[0], (n_dead,), generator=generator, device=x.device)
        seeds = x[pick].to(self.codebook.dtype)  # (n_dead, D)
        self.codebook[dead] = seeds
        self.embed_sum[dead] = seeds * self.dead_threshold
        self.cluster_size[dead] = self.dead_threshold
        return n_dead


def _kmeans_pp(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """k-means++ seeding with cosine distance ``1 - cos`` on unit rows ``x (N, D)`` -> ``(k, D)``."""
    n = x.shape[0]
    first = int(torch.randint(0, n, (1,), generator=generator, device=x.device))
    centres = [x[first]]
    dist = (1.0 - x @ x[first]).clamp_min(0.0)  # (N,)
    for _ in range(1, k):
        w = dist.double() ** 2
        if float(w.sum()) <= 0:
            idx = int(torch.randint(0, n, (1,), generator=generator, device=x.device))
        else:
            idx = int(torch.multinomial(w / w.sum(), 1, generator=generator))
        centres.append(x[idx])
        dist = torch.minimum(dist, (1.0 - x @ x[idx]).clamp_min(0.0))
    return torch.stack(centres)
