"""Built-in token objectives: ``nelbo`` (1/t-weighted) and ``masked-ce`` (unweighted)."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_objectives(register: Any) -> None:
    from ladd_objectives.token import MaskedCE, Nelbo

    register("nelbo", Nelbo)
    register("masked-ce", MaskedCE)
