"""Built-in samplers: ``ancestral`` (token-only models), ``joint`` and ``sequential`` (latent models), and
``maskgit`` and ``remdm`` (token-chain samplers that compose with any latent through ``latent_mode``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.samplers import Sampler
    from ladd_core.registry import Register


@hookimpl
def ladd_register_samplers(register: Register[type[Sampler]]) -> None:
    from ladd_samplers.ancestral import AncestralSampler
    from ladd_samplers.joint import JointSampler
    from ladd_samplers.maskgit import MaskGitSampler
    from ladd_samplers.remdm import RemdmSampler
    from ladd_samplers.sequential import SequentialSampler

    register_classes(register, AncestralSampler, JointSampler, SequentialSampler, MaskGitSampler, RemdmSampler)
