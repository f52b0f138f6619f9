"""Built-in presets: ``sawtooth-mdlm``, ``shakespeare-mdlm``, ``markov-mdlm``."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_presets(register: Any) -> None:
    from ladd_presets.presets import PRESETS

    for name, cfg in PRESETS.items():
        register(name, cfg)
