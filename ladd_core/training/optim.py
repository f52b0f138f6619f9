"""The optimiser (AdamW, or Muon for linear-layer matrices), its warm-up and decay, and an EMA of the weights."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from fnmatch import fnmatch
from typing import Any

import torch
from torch import nn

from ladd_core.config.experiment import TrainConfig
from ladd_core.training.muon import MuonAdamW

__all__ = ["EMA", "build_optimizer", "ema_decay", "linear_weight_ids", "lr_factor", "lr_scales"]


def build_optimizer(
    params: Iterable[nn.Parameter],
    cfg: TrainConfig,
    names: Mapping[int, str] | None = None,
    linear_weights: Collection[int] = (),
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser of ``cfg.optimizer`` over ``params`` and a scheduler of the factor :func:`lr_factor`.

    AdamW: matrices get ``weight_decay``, vectors none.  ``names`` (``id(param) -> name``, from the model's
    ``named_parameters``) lets ``cfg.lr_scale`` multiply the LR of the parameters under a name prefix: each
    (decay, scale) pair is one parameter group, whose warm-up and decay follow the same factor.  Without
    ``lr_scale`` the groups are the two of earlier versions, so their checkpoints resume.

    Muon (:class:`~ladd_core.training.muon.MuonAdamW`): the parameters in ``linear_weights`` (ids of
    ``nn.Linear`` weights, :func:`linear_weight_ids`) whose names match no ``cfg.muon_exclude`` pattern are
    Muon's, at ``cfg.muon_lr`` with ``weight_decay``; the rest are AdamW's as above.  ``lr_scale`` applies to both.
    """
    params = [p for p in params if p.requires_grad]
    names = names or {}
    scales = lr_scales(params, cfg.lr_scale, names)
    muon = cfg.optimizer == "muon"
    if muon and not names:
        raise ValueError("train.optimizer 'muon' needs the model's parameter names (build_optimizer(..., names=...))")
    groups: dict[tuple[str, bool, float], list[nn.Parameter]] = {("adamw", True, 1.0): [], ("adamw", False, 1.0): []}
    for p, scale in zip(params, scales, strict=True):
        name = names.get(id(p), "")
        on_muon = muon and id(p) in linear_weights and not any(fnmatch(name, pat) for pat in cfg.muon_exclude)
        groups.setdefault(("muon" if on_muon else "adamw", p.ndim >= 2, scale), []).append(p)
    # adamw decay, adamw no-decay at scale 1 first (the two groups of earlier checkpoints), then the rest
    order = sorted(groups, key=lambda k: (k[0] == "muon", k[2] != 1.0, not k[1], k[2]))

    def group(key: tuple[str, bool, float]) -> dict[str, Any]:
        algo, decays, scale = key
        lr = (cfg.muon_lr if algo == "muon" else cfg.lr) * scale
        out = {"params": groups[key], "weight_decay": cfg.weight_decay if decays else 0.0, "lr": lr}
        return {**out, "algorithm": algo} if muon else out

    opt: torch.optim.Optimizer
    if muon:
        opt = MuonAdamW([group(k) for k in order], betas=cfg.betas, eps=1e-8)
    else:
        opt = torch.optim.AdamW(
            [group(k) for k in order],
            lr=cfg.lr,
            betas=cfg.betas,
            eps=1e-8,
            # foreach: one multi-tensor op per update step instead of ~10 per parameter tensor (CPU defaults to
            # the per-tensor loop); bitwise the same updates
            foreach=True,
        )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    return opt, sched


def linear_weight_ids(model: nn.Module) -> set[int]:
    """``id`` of the weight matrix of every ``nn.Linear`` in ``model`` (the candidates for Muon)."""
    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}


def lr_scales(params: list[nn.Parameter], prefixes: Mapping[str, float], names: Mapping[int, str]) -> list[float]:
    """The LR multiplier of each of ``params``: that of the longest prefix in ``prefixes`` its name starts with.

    A prefix matches a name equal to it or continuing with ``.``.  A prefix that matches no parameter of the
    model is a config error (a typo would otherwise train at the full LR without a word); frozen parameters
    count as matched, so a prefix naming the encoder stays valid in the stage that freezes it.
    """
    if not prefixes:
        return [1.0] * len(params)
    if not names:
        raise ValueError("train.lr_scale needs the model's parameter names (build_optimizer(..., names=...))")

    def hit(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    unknown = [k for k in prefixes if not any(hit(n, k) for n in names.values())]
    if unknown:
        tops = sorted({n.split(".")[0] for n in names.values()})
        raise ValueError(f"train.lr_scale: no parameter name starts with {unknown}; the model's modules are {tops}")
    out = []
    for p in params:
        name = names.get(id(p), "")
        best = max((k for k in prefixes if hit(name, k)), key=len, default=None)
        out.append(1.0 if best is None else float(prefixes[best]))
    return out


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """LR multiplier at scheduler step ``step``: linear warm-up over ``warmup_steps``, then constant or cosine.

    The cosine runs from 1 at the end of the warm-up to ``min_lr_ratio`` at ``max_steps`` (and stays there).
    """
    warm = max(cfg.warmup_steps, 0)
    if warm and step + 1 < warm:
        return (step + 1) / warm
    if cfg.lr_decay == "none":
        return 1.0
    span = max(cfg.max_steps - warm, 1)
    frac = min(max(step + 1 - warm, 0) / span, 1.0)
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))


def ema_decay(decay: float, num_updates: int) -> float:
    """Decay of the EMA update made after ``num_updates`` earlier ones: ``d_n = min(decay, (1 + n) / (10 + n))``.

    The warm-up keeps the shadow from holding the random initial weights: with a fixed
    ``d = 0.999`` the initial weights still carry ``0.999^1000 = 37 %`` of the shadow after
    1,000 updates; with the warm-up the first update copies 90 % of the live weights and
    the effective averaging window grows like ``n / 10`` until it reaches ``1 / (1 - decay)``.
    """
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


class EMA:
    """Shadow copy ``e <- d_n e + (1 - d_n) w`` of every floating-point parameter; buffers are copied as they are.

    ``d_n`` is :func:`ema_decay` of the number ``n`` of updates made so far.  ``n`` is not saved
    with the shadow: a trainer that updates once per optimiser step passes its step as
    ``num_updates`` when it rebuilds the EMA on resume, so a resumed run stays exact.

    Buffers (running statistics, a VQ codebook updated by its own EMA) are state, not
    weights: averaging them would mix, e.g., codebooks of different training stages.

    Works on plain tensors and on FSDP ``DTensor`` shards alike (the shadow has the
    layout of the model's state).  Build it after the model is wrapped or sharded.

    Args:
        model: the module to track.
        decay: ``d``, the decay once warmed up; 0 copies the weights (EMA off).
        num_updates: updates already made (the optimiser step when resuming).
    """

    def __init__(self, model: nn.Module, decay: float, num_updates: int = 0) -> None:
        if num_updates < 0:
            raise ValueError(f"num_updates must be >= 0, got {num_updates}")
        self.decay = decay
        self.num_updates = num_updates
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        self._params = {k for k, _ in model.named_parameters()}
        self._live: tuple[int, list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]] | None
        self._live = None

    def _pairs(
        self, model: nn.Module
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """(shadow params, live params, (shadow, live) buffers), cached per model object (referenced, not copied)."""
        if self._live is None or self._live[0] != id(model):
            sd = model.state_dict(keep_vars=True)
            keys = [k for k in self.shadow if k in sd]
            params = [k for k in keys if k in self._params]
            buffers = [(self.shadow[k], sd[k]) for k in keys if k not in self._params]
            self._live = (id(model), [self.shadow[k] for k in params], [sd[k] for k in params], buffers)
        return self._live[1], self._live[2], self._live[3]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow towards ``model``'s weights with decay ``d_n``, copy its buffers, count the update."""
        shadow, live, buffers = self._pairs(model)
        weight = 1.0 - ema_decay(self.decay, self.num_updates)
        try:
            torch._foreach_lerp_(shadow, live, weight)
        except (RuntimeError, NotImplementedError):  # e.g. mixed devices or tensor types: one at a time
            for s, v in zip(shadow, live):
                s.lerp_(v, weight)
        for s, v in buffers:
            s.copy_(v)
        self.num_updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        from ladd_core.training.distributed import load_into

        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        load_into(self.shadow, state)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the EMA weights into ``model`` (for sampling and evaluation)."""
        sd = model.state_dict()
        for k, v in self.shadow.items():
            sd[k].copy_(v)
