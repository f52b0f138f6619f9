"""The binary sawtooth toy data (method notes §6.4), with its exact likelihood.

One phase ``u ~ U[0, 1]`` per sequence; position ``i`` is 1 with probability
``p_i = floor + (1 - 2 floor) tri(K ((i / L + u) mod 1) mod 1)``, ``tri(z) = 1 - |2 z - 1|``,
independently given ``u``.  ``p_i`` has period ``1 / K`` in ``u``, so the phase is
identifiable only modulo ``1 / K`` and integrals over ``[0, 1]`` reduce to ``[0, 1 / K)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from ladd_core.components.data import DataConfig
from ladd_data._synthetic import SyntheticSource
from ladd_tokenizers.binary import BinaryTokenizer

__all__ = ["Sawtooth", "sawtooth_probs"]

_LL_CHUNK = 256  # rows per block in the likelihood: (chunk, grid) float64 scores


def sawtooth_probs(u: Tensor, seq_len: int, num_teeth: int, floor: float) -> Tensor:
    """``p_i(u)`` for phases ``u (N,)`` -> ``(N, L)`` (dtype of ``u``)."""
    i = torch.arange(seq_len, dtype=u.dtype, device=u.device)
    tau = torch.remainder(i[None, :] / seq_len + u[:, None], 1.0)  # (N, L)
    z = torch.remainder(num_teeth * tau, 1.0)
    tri = 1.0 - (2.0 * z - 1.0).abs()
    return floor + (1.0 - 2.0 * floor) * tri


class Sawtooth(SyntheticSource):
    """Binary sequences shaped like a shifted triangle wave with ``num_teeth`` teeth.

    Training data is regenerated every epoch: batch ``i`` of epoch ``e`` is a pure
    function of ``(seed, e, i)``.  Validation data is one fixed set drawn from ``val_seed``
    (independent of the experiment seed and of the batch size).
    """

    class Config(DataConfig):
        name: Literal["sawtooth"] = "sawtooth"
        num_teeth: int = Field(2, ge=1, description="K, triangle periods per sequence")
        floor: float = Field(0.01, ge=0.0, lt=0.5, description="p_i ranges over [floor, 1 - floor]")
        train_size: int = Field(204_800, ge=1, description="training sequences per epoch")
        val_size: int = Field(20_480, ge=0, description="validation sequences")
        val_seed: int = Field(0, description="seed of the fixed validation set")
        grid_points: int = Field(8192, ge=16, description="phase grid points for the exact likelihood")

    config: Config
    stream: ClassVar[str] = "sawtooth"

    def __init__(self, config: Config, seed: int = 0, work_dir: Path | None = None) -> None:
        super().__init__(config, seed, work_dir)
        self._tokenizer = BinaryTokenizer()
        self._grid: tuple[Tensor, Tensor, Tensor, Tensor] | None = None

    @property
    def tokenizer(self) -> BinaryTokenizer:
        return self._tokenizer

    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` sequences ``(n, L)`` long and their phases ``(n,)`` float64."""
        cfg = self.config
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        p = sawtooth_probs(u, cfg.seq_len, cfg.num_teeth, cfg.floor)  # (n, L)
        x = torch.rand(n, cfg.seq_len, generator=generator, dtype=torch.float64) < p
        return x.long(), u

    # ---------------------------------------------------------------- likelihood
    def _phase_grid(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Midpoint grid over one period ``[0, 1/K)``: phases ``(G,)``, ``log p - log(1-p)`` ``(G, L)``,
        ``sum_i log(1 - p_i)`` ``(G,)`` and ``log G``, all float64."""
        if self._grid is None or self._grid[0].device != device:
            cfg = self.config
            g = cfg.grid_points
            u = (torch.arange(g, dtype=torch.float64, device=device) + 0.5) / (g * cfg.num_teeth)
            p = sawtooth_probs(u, cfg.seq_len, cfg.num_teeth, cfg.floor)  # (G, L)
            log_p, log_q = torch.log(p), torch.log1p(-p)
            log_g = torch.tensor(math.log(g), dtype=torch.float64, device=device)
            self._grid = (u, log_p - log_q, log_q.sum(dim=1), log_g)
        return self._grid

    def _phase_scores(self, tokens: Tensor) -> Iterator[Tensor]:
        """Blocks of ``log p(x | u_j)`` ``(b, G)`` for the rows of ``tokens (B, L)``."""
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (B, {self.seq_len}), got {tuple(tokens.shape)}")
        if ((tokens != 0) & (tokens != 1)).any():
            raise ValueError("sawtooth tokens must be 0 or 1")
        _, delta, base, _ = self._phase_grid(tokens.device)
        for chunk in tokens.split(_LL_CHUNK):
            yield chunk.to(torch.float64) @ delta.T + base  # (b, L) @ (L, G) -> (b, G)

    def log_likelihood(self, tokens: Tensor) -> Tensor:
        """Exact ``log p(x) = log ∫ prod_i p_i(u)^x_i (1 - p_i(u))^(1 - x_i) du`` in nats, ``(B,)`` float64.

        The phase integral is a midpoint rule with ``grid_points`` nodes over one period, in log space.
        """
        log_g = self._phase_grid(tokens.device)[3]
        out = [torch.logsumexp(s, dim=1) - log_g for s in self._phase_scores(tokens)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=tokens.device)

    def log_marginal(self, tokens: Tensor, observed: Tensor) -> Tensor:
        """Exact ``log p(x_O)`` of the ``observed (B, L)`` positions in nats, ``(B,)`` float64.

        Positions are independent given the phase, so summing out the unobserved ones drops their factors:
        ``log ∫ prod_{i in O} p_i(u)^x_i (1 - p_i(u))^(1 - x_i) du`` on the same grid as :meth:`log_likelihood`
        (all positions observed gives exactly :meth:`log_likelihood`; none gives 0).
        """
        if observed.shape != tokens.shape:
            raise ValueError(f"observed must have the shape of tokens {tuple(tokens.shape)}")
        if ((tokens[observed] != 0) & (tokens[observed] != 1)).any():
            raise ValueError("sawtooth tokens must be 0 or 1")
        u, delta, _, log_g = self._phase_grid(tokens.device)
        cfg = self.config
        log_q = torch.log1p(-sawtooth_probs(u, cfg.seq_len, cfg.num_teeth, cfg.floor))  # (G, L)
        obs = observed.to(torch.float64)  # (B, L)
        ones = (tokens == 1).to(torch.float64) * obs  # (B, L) observed ones
        out = []
        for o, x1 in zip(obs.split(_LL_CHUNK), ones.split(_LL_CHUNK), strict=True):
            scores = x1 @ delta.T + o @ log_q.T  # (b, G): sum over observed positions of log p(x_i | u)
            out.append(torch.logsumexp(scores, dim=1) - log_g)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=tokens.device)

    def sample_phase_fit(self, tokens: Tensor) -> Tensor:
        """Maximum-likelihood phase of each row ``(B,)`` in ``[0, 1/K)`` (the phase is only defined mod ``1/K``)."""
        u = self._phase_grid(tokens.device)[0]
        out = [u[s.argmax(dim=1)] for s in self._phase_scores(tokens)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=tokens.device)

    def phase_probs(self, phases: Tensor) -> Tensor:
        """``p_i(u)`` ``(B, L)`` for phases ``(B,)``, e.g. the best-fit wave of :meth:`sample_phase_fit`."""
        cfg = self.config
        return sawtooth_probs(phases.to(torch.float64), cfg.seq_len, cfg.num_teeth, cfg.floor)
