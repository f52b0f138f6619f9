"""Built-in samplers: ``ancestral`` (token-only models)."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_samplers(register: Any) -> None:
    from ladd_samplers.ancestral import AncestralSampler

    register("ancestral", AncestralSampler)
