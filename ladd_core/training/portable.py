"""Reading exported model directories (written by :mod:`ladd_core.export`): plug-in check and verified weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ladd_core.plugins import Components
from ladd_core.registry import ComponentError
from ladd_core.training.checkpoint import CheckpointError, sha256_file

__all__ = [
    "EXPORT_FORMAT",
    "WEIGHTS_FILE",
    "check_export_record",
    "check_plugins",
    "is_export_record",
    "read_export_weights",
]

EXPORT_FORMAT = 1
WEIGHTS_FILE = "model.safetensors"


def is_export_record(record: dict[str, Any] | None) -> bool:
    """Whether a parsed ``config.json`` belongs to an exported model directory (it has an ``export`` section)."""
    return isinstance(record, dict) and isinstance(record.get("export"), dict)


def check_export_record(record: dict[str, Any], where: Path) -> None:
    """The ``export`` section of an exported ``config.json``: known format, counters, checksum, components.

    Raises:
        CheckpointError: naming the file and the field (an edited or foreign export).
    """
    ex = record["export"]
    path = Path(where) / "config.json"

    def bad(msg: str) -> CheckpointError:
        return CheckpointError(f"{path}: {msg}; not an export this ladd can read")

    fmt = ex.get("format")
    if isinstance(fmt, bool) or fmt != EXPORT_FORMAT:
        raise bad(f"export.format is {fmt!r}, this ladd reads format {EXPORT_FORMAT}")
    for key in ("step", "stage"):
        value = ex.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(f"export.{key} must be a non-negative integer, got {value!r:.60}")
    if not isinstance(ex.get("sha256"), str):
        raise bad("export.sha256 must be a string")
    comps = ex.get("components", {})
    if not isinstance(comps, dict) or not all(isinstance(v, dict) for v in comps.values()):
        raise bad("export.components must map field paths to objects")


def check_plugins(record: dict[str, Any], components: Components) -> None:
    """Refuse an exported model whose components are not all installed, naming the packages to install.

    Raises:
        ComponentError: one line per missing component: kind, name, plug-in and ``pip install`` hint.
    """
    missing = []
    for path, src in sorted(record["export"].get("components", {}).items()):
        kind = src.get("kind", "")
        if kind in components.registries and src.get("name") in components.registry(kind):
            continue
        pkg = src.get("distribution") or "its plug-in package"
        ver = f"=={src['version']}" if src.get("distribution") and src.get("version") else ""
        missing.append(
            f"{path}: {src.get('kind')} {src.get('name')!r} from plug-in {src.get('plugin')!r} "
            f"(install it: pip install '{pkg}{ver}')"
        )
    if missing:
        raise ComponentError("this model needs components that are not installed: " + "; ".join(missing))


def read_export_weights(path: Path, record: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The exported weights, verified against the checksum in ``config.json``.

    Raises:
        CheckpointError: the weights are missing, truncated or altered.
    """
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing: not a complete exported model")
    if sha256_file(weights) != record.get("export", {}).get("sha256"):
        raise CheckpointError(f"{weights} is corrupt or was altered (checksum mismatch with config.json)")
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} cannot be read: {exc}") from None
