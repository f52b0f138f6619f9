"""Built-in presets: ``sawtooth-mdlm``, ``shakespeare-mdlm``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladd_core import hookimpl

if TYPE_CHECKING:
    from ladd_core.registry import Register


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    from ladd_presets.presets import PRESETS

    for name, cfg in PRESETS.items():
        register(name, cfg)
