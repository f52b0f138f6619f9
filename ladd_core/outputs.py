"""The output guard: every path a command writes goes through here before anything is computed.

A run directory (``RUN/config.json`` with a ``config`` mapping, or a ``config.json`` next to
``checkpoints/`` or ``metrics.jsonl``) and an exported model directory (its ``config.json`` has an
``export`` section) are protected:

- an export is read-only: nothing is written anywhere inside it;
- inside a run, a command may write only the files it owns: a file directly in the run whose name
  is not one of the run's own (:data:`RUN_ENTRIES`, hidden names included) and whose suffix is the
  one the command writes (``sample --out``: ``.jsonl``, ``eval --out``: ``.json``, ``--plot``:
  ``.png``, ``--doc``: ``.md``);
- a directory a command creates (``train --out``, ``export DIR``, ``bench --out``) is never inside a
  run or an export; ``train --out RUN`` may name a run itself (resume), never an export;
- an empty path is refused (``Path("")`` would be the current directory).

Every refusal is an :class:`OutputError` (a ``ValueError``: the CLI prints it as one ``error:`` line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "RUN_ENTRIES",
    "OutputError",
    "check_dir",
    "check_file",
    "check_run_out",
    "kind_of",
    "output_path",
    "owner",
    "removed_on_error",
]

RUN_ENTRIES = frozenset(
    {
        "config.json",
        "metrics.jsonl",
        "metrics.dropped.jsonl",
        ".lock",
        "checkpoints",
        "data",
        "seed-eval.json",
        "README.md",
        "model.safetensors",
    }
)
"""Names a run (or an export) keeps for itself; no command's ``--out``/``--doc`` may take them."""


class OutputError(ValueError):
    """A path a command would write is refused (inside an export, a run's own file, empty, ...)."""


def output_path(text: str) -> Path:
    """``argparse`` type of every output option: a path, never the empty string."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (it would mean the current directory); give a path")
    return Path(text)


def _nonempty(path: str | Path | None, option: str) -> Path:
    """``path`` as a :class:`Path`; an empty string or ``None`` is an :class:`OutputError`."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise OutputError(f"{option}: an empty path (it would mean the current directory); give a path")
    if not isinstance(path, str | Path):
        raise OutputError(f"{option}: expected a path (str or Path), got {type(path).__name__}")
    return Path(path)


def kind_of(directory: Path) -> str | None:
    """``"export"``, ``"run"`` or ``None`` for a directory (never raises; a damaged ``config.json`` still counts)."""
    cfg = directory / "config.json"
    try:
        if not cfg.is_file():
            return None
        record = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        record = None
    if isinstance(record, dict) and isinstance(record.get("export"), dict):
        return "export"
    if isinstance(record, dict) and isinstance(record.get("config"), dict):
        return "run"
    try:
        if (directory / "checkpoints").is_dir() or (directory / "metrics.jsonl").exists():
            return "run"
        if (directory / "model.safetensors").exists():
            return "export"
    except OSError:
        return None
    return None


def owner(path: Path) -> tuple[str, Path] | None:
    """The nearest run or export holding ``path`` (the path itself included), after resolving links."""
    target = Path(path).resolve()
    for directory in (target, *target.parents):
        kind = kind_of(directory)
        if kind is not None:
            return kind, directory
    return None


def check_file(path: str | Path | None, option: str, suffix: str, *, owns: frozenset[str] = frozenset()) -> Path:
    """Refuse a file output that would land in an export or on a run's own files; returns the path.

    Args:
        path: the output file as the user gave it (links are followed to where the write lands).
        option: how the user named it (``--out``, ``--doc``, ``out=``) for the message.
        suffix: the suffix of the files this command owns inside a run (``.jsonl``, ``.json``, ...).
        owns: run entries this writer owns itself (``bench-seeds`` writes ``RUN/seed-eval.json``).

    Raises:
        OutputError: empty, a directory, inside an export, or not a file this command owns in a run.
    """
    out = _nonempty(path, option)
    if out.is_dir():
        raise OutputError(f"{option} {out} is a directory; give a {suffix} file path")
    found = owner(out)
    if found is None:
        return out
    kind, home = found
    target = out.resolve()
    if kind == "export":
        raise OutputError(f"{option} {out} is inside the exported model {home}, which is read-only; write elsewhere")
    rel = target.relative_to(home)
    if len(rel.parts) == 1 and rel.name in owns:
        return out
    if len(rel.parts) != 1 or rel.name in RUN_ENTRIES or rel.name.startswith("."):
        raise OutputError(f"{option} {out} would overwrite the run's own {rel} (run {home}); write elsewhere")
    if target.suffix != suffix:
        raise OutputError(f"{option} {out} is inside the run {home}; this command may write only {suffix} files there")
    return out


def check_dir(path: str | Path | None, option: str, *, resume: bool = False) -> Path:
    """Refuse a directory output inside a run or an export (``resume``: it may be a run itself); returns it.

    Raises:
        OutputError: empty, an export, inside a run or an export, or (without ``resume``) a run.
    """
    out = _nonempty(path, option)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out} exists and is not a directory")
    found = owner(out)
    if found is None:
        return out
    kind, home = found
    if kind == "export":
        where = "is" if home == out.resolve() else "is inside"
        raise OutputError(f"{option} {out} {where} the exported model {home}, which is read-only; use a new directory")
    if home == out.resolve():
        if resume:
            return out
        raise OutputError(f"{option} {out} is a ladd run; use a new directory")
    raise OutputError(f"{option} {out} is inside the run {home}; use a directory outside it")


def check_run_out(path: str | Path | None, option: str = "--out") -> Path:
    """A training output: a new directory, an empty one, or an existing run (resumed); never an export.

    Raises:
        OutputError: as :func:`check_dir`, or a non-empty directory that is not a ladd run.
    """
    out = check_dir(path, option, resume=True)
    if out.is_dir() and kind_of(out.resolve()) is None and any(p.name != ".lock" for p in out.iterdir()):
        raise OutputError(f"{option} {out} is a non-empty directory but not a ladd run (no config.json)")
    return out


@contextlib.contextmanager
def removed_on_error(directory: Path, fresh: bool) -> Iterator[None]:
    """On an error inside the block, remove ``directory`` if this command made it (``fresh``) and it holds no
    checkpoint yet: a refused or failed start leaves nothing half-made behind."""
    try:
        yield
    except Exception:
        if fresh and not any((Path(directory) / "checkpoints").glob("step-*")):
            shutil.rmtree(directory, ignore_errors=True)
        raise
