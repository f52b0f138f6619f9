"""Built-in token objectives: ``nelbo`` (1/t-weighted), ``masked-ce`` (unweighted), ``masked-mean`` (bound weights,
mean over the noised positions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.objectives import Objective
    from ladd_core.registry import Register


@hookimpl
def ladd_register_objectives(register: Register[type[Objective]]) -> None:
    from ladd_objectives.token import MaskedCE, MaskedMean, Nelbo

    register_classes(register, Nelbo, MaskedCE, MaskedMean)
