"""Attention kernels and the backends that wrap them.

All functions take ``q (B, H, Lq, Dh)``, ``k, v (B, H, Lk, Dh)`` and an optional
``key_mask (B, Lk)`` (bool, ``True`` at real keys) and return ``(B, H, Lq, Dh)`` in
``q``'s dtype.  A row with no real key attends to every key (finite, never NaN).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import torch
from torch import Tensor

from ladd_core.components.attention import AttentionBackend, AttentionConfig
from ladd_core.config.base import ComponentConfig, ref
from ladd_core.nn.attention import sdpa_attention, visible_keys

__all__ = [
    "MathAttention",
    "SDPAAttention",
    "XFormersAttention",
    "attention_field",
    "backend_for",
    "math_attention",
    "sdpa_attention",
    "visible_keys",
    "xformers_attention",
]

log = logging.getLogger("ladd.attention")
_NOTICES: set[str] = set()


def _notice_once(key: str, message: str) -> None:
    """Log ``message`` once per process (keyed by ``key``)."""
    if key not in _NOTICES:
        _NOTICES.add(key)
        log.warning(message)


# ----------------------------------------------------------------------------- kernels
# (the default kernel, sdpa_attention, and visible_keys live in ladd_core.nn.attention)


def math_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Reference ``softmax(q k^T / sqrt(Dh)) v`` in float32, padding keys at ``-inf``."""
    scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Lq, Lk)
    if key_mask is not None:
        scores = scores.masked_fill(~visible_keys(key_mask)[:, None, None, :], float("-inf"))
    return torch.matmul(scores.softmax(dim=-1), v.float()).to(q.dtype)  # (B, H, Lq, Dh)


def xformers_attention(ops: Any, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """``xformers.ops.memory_efficient_attention`` (layout ``(B, L, H, Dh)``) with an additive key bias.

    Args:
        ops: the imported ``xformers.ops`` module.
        q: ``(B, H, Lq, Dh)`` CUDA tensor.
        k: ``(B, H, Lk, Dh)``.
        v: ``(B, H, Lk, Dh)``.
        key_mask: ``(B, Lk)`` bool or ``None``.

    Raises:
        NotImplementedError: no xformers operator supports these inputs.
        ValueError: the inputs break an xformers layout rule.
    """
    b, h, lq, _ = q.shape
    lk = k.shape[2]
    bias = None
    if key_mask is not None:
        padded = -(-lk // 8) * 8  # xformers wants the bias rows 8-aligned: allocate padded, then slice
        base = torch.zeros(b, 1, 1, padded, dtype=q.dtype, device=q.device)  # (B, 1, 1, Lk')
        base[..., :lk].masked_fill_(~visible_keys(key_mask)[:, None, None, :], float("-inf"))
        bias = base[..., :lk].expand(b, h, lq, lk)  # (B, H, Lq, Lk), stride 0 over heads and queries
    out = ops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_bias=bias)
    return out.transpose(1, 2)  # (B, H, Lq, Dh)


# ----------------------------------------------------------------------------- backends


class SDPAAttention(AttentionBackend):
    """PyTorch's fused ``scaled_dot_product_attention`` (flash / memory-efficient / math, chosen by torch)."""

    class Config(AttentionConfig):
        """Configuration of the ``sdpa`` backend."""

        name: Literal["sdpa"] = "sdpa"

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
        return sdpa_attention(q, k, v, key_mask)


class MathAttention(AttentionBackend):
    """Plain ``softmax(q k^T / sqrt(Dh)) v`` in float32: the numerical reference (slow, memory ``O(L^2)``)."""

    class Config(AttentionConfig):
        """Configuration of the ``math`` backend."""

        name: Literal["math"] = "math"

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
        return math_attention(q, k, v, key_mask)


class XFormersAttention(AttentionBackend):
    """xformers' memory-efficient attention on CUDA tensors; ``sdpa`` everywhere else.

    ``xformers`` (extra ``ladd[cuda]``) is imported on the first CUDA call.  When it is
    missing, or raises ``NotImplementedError``/``ValueError`` for the inputs, the backend
    logs one notice (logger ``ladd.attention``) and uses ``sdpa`` from then on.  CPU
    tensors always go to ``sdpa`` (xformers has no CPU kernels).
    """

    class Config(AttentionConfig):
        """Configuration of the ``xformers`` backend."""

        name: Literal["xformers"] = "xformers"

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config)
        self._ops: Any = None
        self.disabled: str | None = None  # why xformers is not used (None: not yet known or in use)

    def _load(self) -> Any:
        if self._ops is None and self.disabled is None:
            try:
                import xformers.ops as ops
            except Exception as exc:  # ImportError, or a broken build failing at import
                self.disabled = f"xformers is unavailable ({type(exc).__name__}: {exc})"
                _notice_once("xformers-import", f"{self.disabled}; attention falls back to sdpa")
            else:
                self._ops = ops
        return self._ops

    @property
    def active(self) -> bool:
        """Whether CUDA calls currently go to xformers (imports it if needed)."""
        return self._load() is not None

    @staticmethod
    def supports(q: Tensor) -> bool:
        """Whether xformers may be tried on these inputs (CUDA tensors only)."""
        return q.is_cuda

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
        if not self.supports(q):
            _notice_once("xformers-cpu", "the xformers backend runs only on CUDA tensors; using sdpa on this device")
            return sdpa_attention(q, k, v, key_mask)
        ops = self._load()
        if ops is None:
            return sdpa_attention(q, k, v, key_mask)
        try:
            return xformers_attention(ops, q, k, v, key_mask)
        except (NotImplementedError, ValueError) as exc:
            self._ops = None
            self.disabled = f"xformers cannot run these inputs ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            _notice_once("xformers-run", f"{self.disabled}; attention falls back to sdpa")
            return sdpa_attention(q, k, v, key_mask)


_BUILTIN: dict[str, type[AttentionBackend]] = {
    "sdpa": SDPAAttention,
    "math": MathAttention,
    "xformers": XFormersAttention,
}


def backend_for(config: ComponentConfig | None) -> AttentionBackend:
    """The built-in backend a (possibly unresolved) ``attention`` config names; ``None`` means ``sdpa``.

    Used when a backbone is constructed directly rather than through ``ladd_core.build``
    (which builds the backend from the registries and injects it as ``attention=``).
    Only this plug-in's backends are known here: there is one construction path for
    components of other plug-ins, the builder.

    Raises:
        ValueError: ``config`` names a backend of another plug-in.
    """
    name = "sdpa" if config is None else config.name
    cls = _BUILTIN.get(name)
    if cls is None:
        raise ValueError(
            f"attention backend {name!r} is not one of {', '.join(_BUILTIN)}: build the backbone with "
            "ladd_core.build.build_model (which injects the backend) or pass attention=<backend instance>"
        )
    data = {} if config is None else config.model_dump()
    return cls(cls.Config.model_validate(data))


def attention_field() -> Any:
    """The ``attention`` field of a backbone config: the kernel its blocks use, ``sdpa`` by default."""
    return ref("attention", "sdpa", description="attention kernel: sdpa (default), math (reference), xformers (CUDA)")
