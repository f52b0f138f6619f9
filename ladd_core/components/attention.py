"""Attention backends: the kernel behind every transformer block's attention.

A backend is a stateless callable ``(q, k, v, key_mask) -> out`` chosen by name in
a backbone's config (``attention: {name: sdpa}``), so a faster kernel can be
swapped in without touching any network.  Shape letters: ``B`` batch, ``H``
heads, ``Lq``/``Lk`` query/key lengths, ``Dh`` head width.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor

from ladd_core.config.base import ComponentConfig

__all__ = ["AttentionBackend", "AttentionConfig"]


class AttentionConfig(ComponentConfig):
    """Shared attention-backend fields."""


class AttentionBackend(ABC):
    """Full (bidirectional) scaled dot-product attention with key padding.

    Contract of :meth:`__call__`: softmax over keys of ``q k^T / sqrt(Dh)`` with keys
    where ``key_mask`` is ``False`` given zero weight; a row whose keys are all padding
    attends to every key instead (meaningless but finite, so padding never makes NaN).
    The output has ``q``'s dtype.  Backends must agree with the ``math`` reference
    within floating-point tolerance.

    Args:
        config: the component's ``Config``.
    """

    Config: ClassVar[type[AttentionConfig]] = AttentionConfig

    def __init__(self, config: AttentionConfig) -> None:
        self.config = config

    @abstractmethod
    def __call__(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """Attend.

        Args:
            q: ``(B, H, Lq, Dh)``.
            k: ``(B, H, Lk, Dh)``.
            v: ``(B, H, Lk, Dh)``.
            key_mask: ``(B, Lk)`` bool, ``True`` at real keys, or ``None`` (all real).

        Returns:
            ``(B, H, Lq, Dh)``.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.name!r})"
