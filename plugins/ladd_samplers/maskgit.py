"""The ``maskgit`` sampler: confidence-ordered unmasking with a fixed number of reveals per step."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ladd_core.components.samplers import SampleOutput
from ladd_core.conditioning import Condition
from ladd_core.model import LaddModel
from ladd_core.posterior import TokenPosterior
from ladd_samplers._chains import TokenStep, absorbing_mask_id
from ladd_samplers._modes import ModeSampler, ModeSamplerConfig, run_in_latent_mode

__all__ = ["MaskGitSampler", "reveal_counts"]


def reveal_counts(masked: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Reveals per step ``(N, B)`` for ``masked (B,)`` masks at the start and the masked ``fractions (N,)``
    left after each step (the last is taken as 0): ``k_i = r_{i-1} - r_i``, ``r_i = round(masked * f_i)``.
    """
    left = torch.round(masked[None, :].double() * fractions[:, None].double()).long()  # (N, B)
    left[-1] = 0
    before = torch.cat([masked[None, :].long(), left[:-1]])  # (N, B)
    return (before - left).clamp_min(0)


class MaskGitSampler(ModeSampler):
    """MaskGIT-style decoding (Chang et al. 2022) for masked diffusion models, with any latent.

    Step ``i`` (N steps on the uniform time grid) calls the denoiser once, draws a candidate for every
    masked position from ``p(x_0 | x_t)`` (float64), and reveals the ``k_i`` masked positions with the
    highest confidence (``torch.topk``; ties in a fixed order), the probability of their drawn token (optionally
    perturbed by ``noise`` times a Gumbel draw, MaskGIT's "choice temperature"); the rest stay masked.  ``k_i``
    follows the token process's schedule: after step ``i`` a share ``(1 - alpha(t_{i+1})) / (1 - alpha(1))`` of the
    initially masked positions is left (rounded), so every position is revealed after N steps and NFE = N (no
    noise-removal call; a call is skipped only when the cache applies).

    Diversity trade-off: pure confidence order picks the easiest (most peaked) positions first and
    conditions the rest on them, which lowers the entropy of the samples (fewer, likelier modes); Gumbel
    ``noise`` (or ``order = "random"``, the limit of large noise) restores diversity.  With ``order =
    "random"`` and one reveal per step (N = L) it is exact any-order autoregressive sampling.

    Latent: ``latent_mode`` (see :class:`~ladd_samplers._modes.ModeSamplerConfig`); in joint mode the
    latent grid ends with one more call that finalises the latent.
    """

    class Config(ModeSamplerConfig):
        name: Literal["maskgit"] = "maskgit"
        order: Literal["confidence", "random"] = Field(
            "confidence", description="reveal the most confident drawn tokens first, or a uniformly random order"
        )
        noise: float = Field(
            0.0, ge=0.0, description="Gumbel noise scale added to the log-confidence (0 = greedy order; more = diverse)"
        )

    requires = frozenset()
    config: Config

    def _scores(self, probs: torch.Tensor, masked: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Ordering score ``(B, L)`` float64 of the candidates drawn at the ``masked`` positions, whose
        probabilities are ``probs (B, L)`` (higher = revealed first; ``-inf`` where nothing is drawn): the
        probability, or with ``noise`` the log-probability plus ``noise`` times a Gumbel draw."""
        if self.config.order == "random":
            conf = torch.rand(masked.shape, generator=generator, device=masked.device, dtype=torch.float64)
        elif self.config.noise > 0:
            u = torch.rand(masked.shape, generator=generator, device=masked.device, dtype=torch.float64)
            conf = probs.log() - self.config.noise * torch.log(-torch.log(u.clamp(1e-300, 1.0 - 1e-16)))  # + Gumbel
        else:
            conf = probs
        return torch.where(masked, conf, float("-inf"))

    def _run(
        self, model: LaddModel, x: torch.Tensor, cond: Condition | None, generator: torch.Generator
    ) -> SampleOutput:
        cfg = self.config
        mask_id = absorbing_mask_id(model, "maskgit")
        alpha = model.process.schedule.alpha
        counts: list[torch.Tensor] = []  # (N, B) reveals per step and row, fixed at step 0
        plan: list[tuple[int, torch.Tensor | None]] = []  # per step: the most reveals in a row, and which of them

        def factory(times: torch.Tensor) -> TokenStep:
            ts = times[:, 0]  # (N + 1,) the chain's grid
            left = (1 - alpha(ts[1:]).double()) / (1 - alpha(ts[:1]).double()).clamp_min(1e-30)  # (N,)

            def step(x: torch.Tensor, post: TokenPosterior, i: int, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
                masked = x == mask_id  # (B, L)
                if i == 0:
                    counts.append(reveal_counts(masked.sum(-1), left))  # (N, B)
                    plan[:] = _reveal_plan(counts[-1])
                k, take = plan[i]
                if k == 0:
                    return x
                cand, probs = post.candidates(masked, generator)  # (B, L) each, valid at masked positions
                # The k highest scores of each row; masked positions (finite scores) come before revealed ones (-inf),
                # and a row reveals at most its masked count, so the first take[b] of row b are masked positions.
                top = torch.topk(self._scores(probs, masked, generator), k, dim=-1).indices  # (B, k)
                new = cand.gather(-1, top)  # (B, k)
                if take is not None:  # rows reveal different numbers: the rest of the k keep their ids
                    new = torch.where(take, new, x.gather(-1, top))
                return x.scatter(-1, top, new)

            return step

        out = run_in_latent_mode("maskgit", model, cfg, x, cond, generator, factory)
        if counts:
            out.info["reveals"] = counts[-1].sum(-1).tolist()  # per step, summed over the batch
        return out


def _reveal_plan(counts: torch.Tensor) -> list[tuple[int, torch.Tensor | None]]:
    """Per step of ``counts (N, B)`` (reveals per step and row): the most reveals in a row ``k``, and where rows differ
    the ``(B, k)`` bool of which of a row's ``k`` best positions it reveals (``None`` when every row reveals ``k``).
    One host sync for the chain."""
    most, least = counts.amax(-1).tolist(), counts.amin(-1).tolist()
    plan: list[tuple[int, torch.Tensor | None]] = []
    for i, (k, k_min) in enumerate(zip(most, least, strict=True)):
        take = None if k == k_min else torch.arange(k, device=counts.device) < counts[i, :, None]  # (B, k)
        plan.append((int(k), take))
    return plan
