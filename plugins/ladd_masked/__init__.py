"""Built-in token process ``masked`` (absorbing state, SUBS parameterisation)."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_token_processes(register: Any) -> None:
    from ladd_masked.process import MaskedProcess

    register("masked", MaskedProcess)
