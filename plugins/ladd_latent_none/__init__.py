"""Built-in latent channel ``none``: no latent, which makes the model a plain MDLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.latents import LatentChannel
    from ladd_core.registry import Register


@hookimpl
def ladd_register_latents(register: Register[type[LatentChannel]]) -> None:
    from ladd_latent_none.channel import NoLatent

    register_classes(register, NoLatent)
