"""Built-in token process ``masked`` (absorbing state, SUBS parameterisation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.processes import TokenProcess
    from ladd_core.registry import Register


@hookimpl
def ladd_register_token_processes(register: Register[type[TokenProcess]]) -> None:
    from ladd_masked.process import MaskedProcess

    register_classes(register, MaskedProcess)
