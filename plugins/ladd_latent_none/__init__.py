"""Built-in latent channel ``none``: no latent, which makes the model a plain MDLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.latents import LatentChannel
    from ladd_core.registry import Register


@hookimpl
def ladd_register_latents(register: Register[type[LatentChannel]]) -> None:
    register_targets(register, {"none": "ladd_latent_none.channel:NoLatent"})
