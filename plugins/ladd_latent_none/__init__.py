"""Built-in latent channel ``none``: no latent, which makes the model a plain MDLM."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_latents(register: Any) -> None:
    from ladd_latent_none.channel import NoLatent

    register("none", NoLatent)
