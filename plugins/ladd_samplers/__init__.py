"""Built-in samplers: ``ancestral`` (token-only models), ``joint`` and ``sequential`` (latent models), and
``maskgit`` and ``remdm`` (token-chain samplers that compose with any latent through ``latent_mode``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.samplers import Sampler
    from ladd_core.registry import Register


@hookimpl
def ladd_register_samplers(register: Register[type[Sampler]]) -> None:
    register_targets(
        register,
        {
            "ancestral": "ladd_samplers.ancestral:AncestralSampler",
            "joint": "ladd_samplers.joint:JointSampler",
            "sequential": "ladd_samplers.sequential:SequentialSampler",
            "maskgit": "ladd_samplers.maskgit:MaskGitSampler",
            "remdm": "ladd_samplers.remdm:RemdmSampler",
        },
    )
