"""ladd_mmdit plug-in: the ``mmdit`` joint denoiser and the ``latent-dit`` latent denoiser.

``mmdit`` is LADD's two-stream MM-DiT (capabilities ``"tokens"``, ``"latent_stream"``):
token ids and latent slots, separate weights per stream, one joint attention.
``latent-dit`` is the single-stream latent-only network of sequential Co-LADD
(capability ``"latent_only"``).  Both are built from :mod:`ladd_core.nn`.
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
    """Register the ``mmdit`` and ``latent-dit`` backbones."""
    from ladd_mmdit.latent_dit import LatentDiT
    from ladd_mmdit.mmdit import MMDiT

    register_classes(register, MMDiT, LatentDiT)
