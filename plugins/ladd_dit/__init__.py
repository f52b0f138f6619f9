"""ladd_dit plug-in: the ``dit`` backbone.

``dit`` is the single-stream bidirectional transformer denoiser of MDLM: token
ids in, clean-token logits out (capability ``"tokens"``), built from the shared
transformer blocks of :mod:`ladd_core.nn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.backbones import Backbone
    from ladd_core.registry import Register

__all__ = ["ladd_register_backbones"]


@hookimpl
def ladd_register_backbones(register: Register[type[Backbone]]) -> None:
    """Register the ``dit`` backbone."""
    from ladd_dit.dit import DiT

    register_classes(register, DiT)
