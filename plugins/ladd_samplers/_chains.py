"""Pieces every built-in sampler shares: the time grid, the token step type, the latent modes.

(The conditioned start state is prepared by :meth:`ladd_core.components.samplers.Sampler.sample`.)

The token and latent chains themselves live with the sampler that introduced them
(:func:`ladd_samplers.ancestral.token_chain`, :func:`ladd_samplers.joint.joint_chain`,
:func:`ladd_samplers.sequential.latent_first`); ``maskgit`` and ``remdm`` call them with their own
:data:`TokenStep`, so no chain exists twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from ladd_core.posterior import TokenPosterior

if TYPE_CHECKING:
    from ladd_core.model import LaddModel

__all__ = [
    "LatentMode",
    "StepFactory",
    "TokenStep",
    "absorbing_mask_id",
    "ancestral_step",
    "grid_rows",
    "latent_mode_requires",
    "resolve_latent_mode",
    "time_grid",
]

TokenStep = Callable[[Tensor, TokenPosterior, int, Tensor, Tensor], Tensor]
"""``step(x_t (B, L), posterior, i, t (B,), s (B,)) -> x_s``: token step ``i`` of the grid, ``t -> s``.

``posterior`` is the denoiser's ``p(x_0 | x_t)`` (:class:`~ladd_core.posterior.TokenPosterior`: draw rows
where the step reveals, or take its full log-probs).  The generator and any condition are bound by the
sampler that makes the step.
"""

StepFactory = Callable[[Tensor], TokenStep]
"""``factory(times (N + 1, B) float64) -> TokenStep``: a sampler's token step for a chain's time grid, made once
per chain, so per-step coefficients (schedule values, reveal counts) are computed for the whole grid at once."""

LatentMode = Literal["auto", "none", "sequential", "joint"]


def time_grid(steps: int, t_final: float, device: torch.device) -> Tensor:
    """Uniform grid ``linspace(1, t_final, steps + 1)`` in float64, shape ``(steps + 1,)``."""
    return torch.linspace(1.0, t_final, steps + 1, dtype=torch.float64, device=device)


def grid_rows(ts: Tensor, batch: int, dtype: torch.dtype) -> Tensor:
    """The grid ``ts (N + 1,)`` as ``(N + 1, B)`` rows of ``dtype``, built once per chain: row ``i`` is time ``i``
    for every sample (the value ``torch.full((B,), float(ts[i]), dtype=dtype)`` would give, without a host sync
    per step)."""
    return ts.to(dtype)[:, None].expand(-1, batch).contiguous()  # (N + 1, B)


def ancestral_step(model: LaddModel, generator: torch.Generator) -> StepFactory:
    """The token process's own posterior step on the chain's grid (:meth:`TokenProcess.grid_step`)."""

    def factory(times: Tensor) -> TokenStep:
        grid_step = model.process.grid_step(times)

        def step(x: Tensor, post: TokenPosterior, i: int, t: Tensor, s: Tensor) -> Tensor:
            return grid_step(x, post, i, generator)

        return step

    return factory


def resolve_latent_mode(mode: LatentMode, capabilities: frozenset[str], sampler: str) -> LatentMode:
    """The latent mode a token-chain sampler runs in for a model with ``capabilities``.

    ``auto``: ``none`` for a model without a latent (or offering no latent schedule), else ``sequential``
    where the channel offers it, else ``joint``.  An explicit mode the model does not offer is an error
    naming the modes it offers.
    """
    if mode == "auto":
        if "no_latent" in capabilities or not capabilities & {"joint", "sequential"}:
            return "none"
        return "sequential" if "sequential" in capabilities else "joint"
    needed = {"none": "no_latent", "sequential": "sequential", "joint": "joint"}[mode]
    if needed not in capabilities:
        pairs = (("none", "no_latent"), ("sequential", "sequential"), ("joint", "joint"))
        offered = [m for m, c in pairs if c in capabilities]
        raise ValueError(
            f"sampler {sampler!r}: latent_mode {mode!r} needs a model with {needed!r}; this model offers "
            f"latent_mode {', '.join(offered) or '(none)'}"
        )
    return mode


def latent_mode_requires(mode: LatentMode) -> frozenset[str]:
    """Model capabilities a latent mode needs (``auto`` needs nothing in particular)."""
    return frozenset({"none": {"no_latent"}, "sequential": {"sequential"}, "joint": {"joint"}}.get(mode, set()))


def absorbing_mask_id(model: LaddModel, sampler: str) -> int:
    """The mask id of an absorbing token process; samplers that re-mask or order reveals need one.

    Raises:
        ValueError: the model's token process is not absorbing.
    """
    proc = model.process
    mask_id = getattr(proc, "mask_id", None)
    if "absorbing" not in proc.capabilities or not isinstance(mask_id, int):
        raise ValueError(f"sampler {sampler!r} needs an absorbing (masked) token process, got {type(proc).__name__}")
    return mask_id
