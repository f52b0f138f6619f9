"""ladd-latent-bits: a third-party ladd plug-in adding the ``bits`` latent channel.

* latent ``bits`` (:class:`ladd_latent_bits.channel.BitsLatent`): ``K`` slots of ``b`` bits from a
  trainable encoder through a straight-through sign (or Bernoulli) estimator, diffused by masking
  individual bits; works with the ``joint`` and ``sequential`` samplers and the ``mmdit`` backbone;
* preset ``sawtooth-bits``: a tiny binary-sawtooth experiment with it.

Registered through the entry point ``bits = "ladd_latent_bits"`` in group ``ladd``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladd_core import hookimpl

if TYPE_CHECKING:
    from ladd_core.components.latents import LatentChannel
    from ladd_core.registry import Register

__all__ = ["ladd_register_latents", "ladd_register_presets"]
__version__ = "0.1.0"


@hookimpl
def ladd_register_latents(register: Register[type[LatentChannel]]) -> None:
    """Register the ``bits`` latent channel."""
    from ladd_latent_bits.channel import BitsLatent

    register("bits", BitsLatent)


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    """Register ``sawtooth-bits``."""
    from ladd_latent_bits.presets import SAWTOOTH_BITS

    register("sawtooth-bits", SAWTOOTH_BITS)
