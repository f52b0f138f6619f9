"""Config sources: presets, YAML/JSON files and ``--set a.b=c`` overrides."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ladd_core.config.errors import ConfigError
from ladd_core.registry import UnknownComponentError

if TYPE_CHECKING:
    from ladd_core.plugins import Components

__all__ = ["apply_overrides", "deep_merge", "load_config_source", "parse_override"]


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively by ``update`` (new dict; a changed ``name`` replaces the whole section)."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if (
            isinstance(v, dict)
            and isinstance(out.get(k), dict)
            and v.get("name", out[k].get("name")) == out[k].get("name")
        ):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> ``(["a", "b"], 3)``; the value is parsed as YAML (numbers, lists, bools, strings)."""
    if "=" not in text:
        raise ConfigError([(text, "override must look like key.path=value")])
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError([(text, "empty key in override")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides in order.  Setting ``x.name`` starts ``x`` afresh (other keys dropped)."""
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        cur = out
        for p in path[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = {} if nxt is None else nxt
                if not isinstance(nxt, dict):
                    raise ConfigError([(".".join(path), f"cannot set a field inside {p!r}, which is {nxt!r}")])
                cur[p] = nxt
            cur = nxt
        leaf = path[-1]
        if leaf == "name" and cur.get("name") not in (None, value):
            cur.clear()
        cur[leaf] = value
    return out


def _is_file_source(source: str) -> bool:
    path = Path(source)
    return path.suffix in {".yaml", ".yml", ".json"} or path.exists()


def _read_file(path: Path, source: str) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError([("<file>", f"config file {source!r} does not exist or is not a file")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([("<file>", f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([("<file>", f"cannot read {source}: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([("<file>", f"cannot parse {source}: {' '.join(str(exc).split())}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([("<root>", f"{source} must hold a mapping, got {type(data).__name__}")])
    return data


def load_config_source(source: str, components: Components, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset name or a ``.yaml``/``.yml``/``.json`` file -> config dict (not yet validated).

    A file's ``preset:`` key names a preset or another file; a relative file path is
    resolved against the directory of the file that names it.  Cycles are an error.
    """
    if _is_file_source(source):
        path = Path(source)
        key = str(path.resolve())
        if key in _chain:
            raise ConfigError([("preset", f"{source} includes itself through 'preset:' ({' -> '.join(_chain)})")])
        data = _read_file(path, source)
        base = data.pop("preset", None)
        if base is not None:
            if not isinstance(base, str) or not base:
                raise ConfigError([("preset", f"{source}: 'preset' must be a preset name or a file path")])
            nested = path.parent / base
            ref = str(nested) if not Path(base).is_absolute() and _is_file_source(str(nested)) else base
            data = deep_merge(load_config_source(ref, components, (*_chain, key)), data)
        return data
    presets = components.registry("preset")
    if source not in presets:
        raise ConfigError([("<preset>", str(UnknownComponentError("preset", source, presets.list())))])
    data = copy.deepcopy(presets.get(source))
    data.setdefault("name", source)
    return data
