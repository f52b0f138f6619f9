"""ladd_attention plug-in: attention backends ``sdpa`` (default), ``math`` (reference) and ``xformers``.

Backbones built on :mod:`ladd_core.nn` blocks pick one by name (``attention: {name: xformers}``);
the kernels live in :mod:`ladd_attention.backends`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.attention import AttentionBackend
    from ladd_core.registry import Register

__all__ = ["ladd_register_attention_backends"]


@hookimpl
def ladd_register_attention_backends(register: Register[type[AttentionBackend]]) -> None:
    """Register the ``sdpa``, ``math`` and ``xformers`` attention backends."""
    from ladd_attention.backends import MathAttention, SDPAAttention, XFormersAttention

    register_classes(register, SDPAAttention, MathAttention, XFormersAttention)
