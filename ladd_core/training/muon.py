"""Muon for the weight matrices of linear layers, AdamW for every other parameter, as one optimiser.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers") keeps a Nesterov momentum of each
matrix's gradient and replaces the update by the nearest semi-orthogonal matrix, computed with a few
Newton-Schulz iterations: every direction of the matrix moves by about the same amount, instead of the
few dominant ones that a raw gradient step favours.  The update is rescaled by ``0.2 sqrt(max(A, B))`` for
an ``A x B`` matrix, which gives it the root-mean-square size of a typical AdamW update (Liu et al. 2025,
"Muon is scalable for LLM training"), so Muon learning rates read on AdamW's scale.

Embeddings, output heads, conditioning layers and vectors (biases, norms) are not hidden matrices; they
keep AdamW (:func:`torch.optim.adamw.adamw`, the same update as :class:`torch.optim.AdamW`).  Which
parameters are Muon's is decided by :func:`ladd_core.training.optim.build_optimizer`.

The state dict has the standard layout (``state`` per parameter index, ``param_groups``), so checkpoints,
resume and the optimiser-state tools treat it like AdamW's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim.adamw import adamw

__all__ = ["MuonAdamW", "orthogonalize"]

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""Quintic Newton-Schulz coefficients: they push every singular value of a normalised matrix into roughly
``[0.7, 1.2]`` in five steps (not exactly to 1: speed over precision, which the update does not need)."""


def orthogonalize(g: Tensor, steps: int = 5, eps: float = 1e-7) -> Tensor:
    """An approximately semi-orthogonal matrix ``~ U V^T`` of ``g = U S V^T`` (2-D), by Newton-Schulz.

    ``g`` is first scaled to unit Frobenius norm (so every singular value is at most 1), then iterated
    ``X <- a X + (b A + c A^2) X`` with ``A = X X^T`` on the wide orientation (fewer rows than columns,
    the cheaper Gram matrix).  Float32 at least; the result has ``g``'s shape and dtype.
    """
    if g.ndim != 2:
        raise ValueError(f"orthogonalize needs a matrix, got shape {tuple(g.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = g.float()
    x = x / (x.norm() + eps)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T  # (B, A): rows <= columns
    for _ in range(steps):
        gram = x @ x.T  # (rows, rows)
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return (x.T if tall else x).to(g.dtype)


class MuonAdamW(torch.optim.Optimizer):
    """One optimiser over param groups of two kinds, told apart by the group key ``"algorithm"``.

    * ``"muon"`` groups (2-D parameters only): ``m <- mu m + (1 - mu) g``; the update ``g + mu (m - g)``
      (Nesterov) is orthogonalised (:func:`orthogonalize`) and applied as
      ``p <- (1 - lr wd) p - lr 0.2 sqrt(max(A, B)) O``.
    * ``"adamw"`` groups: decoupled-weight-decay Adam with ``betas`` and ``eps``, exactly as
      :class:`torch.optim.AdamW` (the functional kernel it runs, multi-tensor).

    Every group has its own ``lr`` and ``weight_decay``; a scheduler scales them all alike.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        momentum: float = 0.95,
        ns_steps: int = 5,
    ) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        defaults = {"lr": 1e-3, "weight_decay": 0.0, "algorithm": "adamw"}
        super().__init__(list(params), defaults)
        for group in self.param_groups:
            if group["algorithm"] not in ("muon", "adamw"):
                raise ValueError(f"unknown algorithm {group['algorithm']!r}; use 'muon' or 'adamw'")
            if group["algorithm"] == "muon" and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon groups take 2-D parameters (weight matrices) only")
        self.betas, self.eps, self.momentum, self.ns_steps = betas, eps, momentum, ns_steps

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                (self._muon if group["algorithm"] == "muon" else self._adamw)(group, params)
        return loss

    def _muon(self, group: dict[str, Any], params: list[Tensor]) -> None:
        lr, wd, mu = group["lr"], group["weight_decay"], self.momentum
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            buf = state["momentum_buffer"]
            buf.lerp_(p.grad, 1 - mu)
            update = orthogonalize(p.grad.lerp(buf, mu), self.ns_steps)  # Nesterov: g + mu (m - g)
            p.mul_(1 - lr * wd)
            p.add_(update, alpha=-lr * 0.2 * math.sqrt(max(p.shape)))

    def _adamw(self, group: dict[str, Any], params: list[Tensor]) -> None:
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states = [self.state[p] for p in params]
        adamw(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=True,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=self.eps,
            maximize=False,
        )
