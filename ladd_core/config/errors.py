"""Readable config errors: one message, each line naming a field path."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

__all__ = ["ConfigError", "format_validation_error"]

UNKNOWN_COMPONENT = "unknown_component"


class ConfigError(ValueError):
    """A config that does not validate.

    Attributes:
        problems: ``(field_path, message)`` pairs, e.g. ``("model.latent.name", "unknown latent ...")``.
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"invalid config{f' ({self.source})' if self.source else ''}: {len(self.problems)} problem(s)"
        return "\n".join([head] + [f"  {p}: {m}" for p, m in self.problems])


def _path(loc: tuple[Any, ...], data: Any) -> list[str]:
    """Field path from a pydantic ``loc``, dropping union tag segments."""
    out: list[str] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(str(part))
            cur = cur[part]
        elif isinstance(cur, dict) and part == cur.get("name"):
            continue  # discriminator tag inserted by pydantic
        elif isinstance(cur, list | tuple) and isinstance(part, int) and part < len(cur):
            out.append(str(part))
            cur = cur[part]
        else:
            out.append(str(part))
            cur = None
    return out


def unknown_name_message(kind: str, name: Any, known: list[str]) -> str:
    """The shared wording for an unknown component name."""
    if name is None:
        return f"missing 'name': choose a {kind}: {', '.join(known)}"
    msg = f"unknown {kind} {name!r}."
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    if close:
        msg += f" Did you mean {close[0]!r}?"
    msg += (
        f" Known {kind} names: {', '.join(known) or '(none registered)'}."
        " If it comes from a plug-in, check it is installed: `ladd plugins`."
    )
    return msg


def format_validation_error(exc: ValidationError, data: Any, source: str | None = None) -> ConfigError:
    """Turn a pydantic error into a :class:`ConfigError` with dotted field paths."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        path = _path(tuple(err["loc"]), data)
        if err["type"].startswith(UNKNOWN_COMPONENT + ":"):
            _, kind, known_csv = err["type"].split(":", 2)
            inp = err.get("input")
            name = inp.get("name") if isinstance(inp, dict) else getattr(inp, "name", None)
            if not isinstance(inp, dict | type(None)) and not hasattr(inp, "name"):
                problems.append((".".join(path), f"expected a {kind} config (a mapping with 'name')"))
                continue
            known = [k for k in known_csv.split(",") if k]
            problems.append((".".join([*path, "name"]), unknown_name_message(kind, name, known)))
            continue
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `ladd show KIND NAME` lists the fields)"
        problems.append((".".join(path) or "<root>", msg))
    return ConfigError(problems, source)
