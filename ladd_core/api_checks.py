"""Argument checks of the Python API: the CLI's strictness for values that arrive as Python objects.

Every check raises :class:`~ladd_core.config.errors.ConfigError` (a ``ValueError``) naming the
argument, so a wrong type, a boolean where a number belongs, a string where a list belongs, or an
empty list is one readable error instead of a ``TypeError`` deep inside, a silent ``True == 1`` or a
string iterated by character.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ladd_core.config.errors import ConfigError

__all__ = ["ArgumentError", "check_float", "check_int", "check_list", "check_overrides", "check_path", "check_str"]


class ArgumentError(ConfigError, TypeError):
    """An API argument of the wrong type: a :class:`ConfigError` naming it that is also a ``TypeError``."""


def _fail(name: str, msg: str) -> ConfigError:
    return ConfigError([(name, msg)])


def _type(name: str, msg: str) -> ArgumentError:
    return ArgumentError([(name, msg)])


def check_int(value: Any, name: str, *, low: int = 1, optional: bool = False) -> int | None:
    """An ``int`` (never a ``bool``) of at least ``low``; ``None`` only when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type(name, f"expected an integer >= {low}, got {type(value).__name__} {value!r:.60}")
    if value < low:
        raise _fail(name, f"must be >= {low}, got {value}")
    return value


def check_float(value: Any, name: str, *, optional: bool = False) -> float | None:
    """A finite real number (``int`` or ``float``, never a ``bool``); ``None`` only when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type(name, f"expected a finite number, got {type(value).__name__} {value!r:.60}")
    if not math.isfinite(float(value)):
        raise _fail(name, f"expected a finite number, got {value!r}")
    return float(value)


def check_str(value: Any, name: str, *, optional: bool = False) -> str | None:
    """A non-empty string; ``None`` only when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _type(name, f"expected a non-empty string, got {type(value).__name__} {value!r:.60}")
    if not value.strip():
        raise _fail(name, "expected a non-empty string, got an empty one")
    return value


def check_path(value: Any, name: str) -> Path:
    """A ``str`` or ``Path`` that is not empty."""
    if isinstance(value, Path):
        return value
    return Path(check_str(value, name) or "")


def check_list(value: Any, name: str, item: Any, *, optional: bool = False) -> list[Any] | None:
    """A non-empty list or tuple (never a string, which would be iterated by character) of checked items.

    ``item(value, label)`` checks one element; ``None`` only when ``optional``.
    """
    if value is None and optional:
        return None
    if isinstance(value, str | bytes | Path) or not isinstance(value, Sequence):
        raise _type(name, f"expected a list, got {type(value).__name__} {value!r:.60} (wrap one value in [...])")
    if not value:
        raise _fail(name, "empty list")
    return [item(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _json_value(value: Any) -> Any:
    """Override values as JSON: paths become strings; anything else JSON cannot hold is refused."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def check_overrides(overrides: Any, name: str = "overrides") -> list[str]:
    """``{"train.max_steps": 2000}`` or ``["train.max_steps=2000"]`` -> ``--set`` strings (values as JSON)."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            check_str(key, f"{name} key")
            try:
                out.append(f"{key}={json.dumps(_json_value(value), allow_nan=False)}")
            except (TypeError, ValueError):
                raise _type(f"{name}[{key!r}]", f"a value JSON cannot hold: {type(value).__name__}") from None
        return out
    if isinstance(overrides, str | bytes) or not isinstance(overrides, Sequence):
        raise _type(name, "expected a mapping or a list of 'key.path=value' strings, not one string")
    items = [check_str(o, f"{name}[{i}]") for i, o in enumerate(overrides)]
    for i, o in enumerate(items):
        if "=" not in str(o):
            raise _fail(f"{name}[{i}]", f"expected 'key.path=value', got {o!r}")
    return [str(o) for o in items]
