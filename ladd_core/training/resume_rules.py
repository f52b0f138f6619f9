"""Which config changes a run accepts on resume, and the config a resumed ``ladd train`` uses.

``ladd train SOURCE --out RUN`` on an existing run starts from the config stored in
``RUN/config.json`` when ``SOURCE`` is the one the run was made from (same preset or file,
unchanged since), and applies this command's ``--set`` overrides on top.  Fields in
:data:`SAFE_ON_RESUME` may differ from the stored config (they change bookkeeping, not what
is learned); any other difference is refused, naming each field with its old and new value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["SAFE_ON_RESUME", "config_diff", "format_changes", "is_safe", "source_digest"]

#: Field paths (or path prefixes ending in ".") that may change when a run is resumed.
SAFE_ON_RESUME: tuple[str, ...] = (
    "name",
    "description",
    "train.max_steps",
    "train.log_every",
    "train.eval_every",
    "train.eval_batches",
    "train.checkpoint_every",
    "train.threads",
    "train.compile",
    "train.device",
    "sampler.",
)


def is_safe(path: str) -> bool:
    """Whether the field at dotted ``path`` may change on resume."""
    return any(path == s or (s.endswith(".") and (path + ".").startswith(s)) for s in SAFE_ON_RESUME)


def config_diff(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted path, old, new)`` for every differing leaf; a changed component ``name`` is one entry."""
    if isinstance(old, dict) and isinstance(new, dict):
        if "name" in old and old.get("name") != new.get("name") and prefix:
            return [(f"{prefix}.name", old.get("name"), new.get("name"))]
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append((path, old.get(key, "(absent)"), new.get(key, "(absent)")))
            else:
                out.extend(config_diff(old[key], new[key], path))
        return out
    return [] if old == new else [(prefix or "<root>", old, new)]


def format_changes(changes: list[tuple[str, Any, Any]]) -> str:
    """``"a.b: 1 → 2, c: x → y"`` (values as compact JSON)."""
    return ", ".join(f"{p}: {json.dumps(o, default=str)} → {json.dumps(n, default=str)}" for p, o, n in changes)


def source_digest(data: dict[str, Any]) -> str:
    """Digest of a loaded, not yet validated config source (detects an edited file or preset)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
