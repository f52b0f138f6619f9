"""Built-in token objectives: ``nelbo`` (1/t-weighted) and ``masked-ce`` (unweighted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.objectives import Objective
    from ladd_core.registry import Register


@hookimpl
def ladd_register_objectives(register: Register[type[Objective]]) -> None:
    register_targets(register, {"nelbo": "ladd_objectives.token:Nelbo", "masked-ce": "ladd_objectives.token:MaskedCE"})
