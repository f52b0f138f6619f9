"""ladd_coladd plug-in: the ``gaussian`` latent channel (Co-LADD) and its presets.

* latent ``gaussian``: encoder latents ``(K, d)`` diffused by a VP Gaussian process,
  joint (one two-stream network) or sequential (separate latent denoiser);
* presets ``sawtooth-coladd``, ``shakespeare-coladd`` and ``markov-coladd`` (the MDLM presets with
  Co-LADD components).
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
    """Register the ``gaussian`` latent channel."""
    from ladd_coladd.channel import GaussianLatent

    register_classes(register, GaussianLatent)


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    """Register ``sawtooth-coladd``, ``shakespeare-coladd``, ``markov-coladd`` and ``mixture-coladd``."""
    from ladd_coladd.presets import PRESETS

    register_each(register, PRESETS)
