"""ladd_diladd plug-in: Di-LADD, latent-augmented masked diffusion with vector-quantised latent codes.

* latent channel ``vq`` (:class:`ladd_diladd.channel.VQLatent`): an encoder, a cosine EMA
  vector quantiser (:class:`ladd_diladd.quantizer.VectorQuantizer`) and masked diffusion on the
  codes with a learnable mask vector; supports the ``joint`` and ``sequential`` samplers;
* presets ``sawtooth-diladd`` and ``shakespeare-diladd``.

See ``docs/diladd.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladd_core import hookimpl
from ladd_core.registry import register_classes, register_each

if TYPE_CHECKING:
    from ladd_core.components.latents import LatentChannel
    from ladd_core.registry import Register

__all__ = ["ladd_register_latents", "ladd_register_presets"]


@hookimpl
def ladd_register_latents(register: Register[type[LatentChannel]]) -> None:
    """Register the ``vq`` latent channel."""
    from ladd_diladd.channel import VQLatent

    register_classes(register, VQLatent)


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    """Register ``sawtooth-diladd`` and ``shakespeare-diladd``."""
    from ladd_diladd.presets import diladd_presets

    register_each(register, diladd_presets())
