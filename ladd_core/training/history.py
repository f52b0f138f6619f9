"""Keeping a run's history on resume: metrics past the resume step and corrupt checkpoints are set aside, never erased.

A run killed after its last checkpoint has logged steps that the resumed run will repeat;
those lines (and torn or undecodable ones) move from ``metrics.jsonl`` to
``metrics.dropped.jsonl``, byte for byte, with a note on stderr.  A checkpoint that fails
verification is renamed ``.corrupt-step-N`` so it is kept for inspection but never loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ladd_core.training.checkpoint import atomic_write_text, load_newest_valid

__all__ = ["DROPPED_FILE", "resume_point", "set_aside_corrupt", "truncate_history"]

DROPPED_FILE = "metrics.dropped.jsonl"


def _step(line: bytes) -> int | None:
    """The ``step`` of one JSON record line, ``None`` when the line is torn, not UTF-8 or not a record."""
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    step = rec.get("step", 0) if isinstance(rec, dict) else None
    return step if isinstance(step, int) else None


def truncate_history(path: Path, step: int, log: Callable[[str], None]) -> int:
    """Keep the records of ``path`` up to ``step``; move the others to ``metrics.dropped.jsonl``.

    Returns:
        The number of lines moved.
    """
    if not path.exists():
        return 0
    keep: list[bytes] = []
    moved: list[bytes] = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        s = _step(line)
        (keep if s is not None and s <= step else moved).append(line)
    if not moved:
        return 0
    dropped = path.with_name(DROPPED_FILE)
    with dropped.open("ab") as f:
        f.write(b"".join(m + b"\n" for m in moved))
        f.flush()
        os.fsync(f.fileno())
    atomic_write_text(path, "".join(k.decode("utf-8") + "\n" for k in keep))
    log(
        f"note: resuming at step {step}: {len(moved)} metrics line(s) past it (or unreadable) "
        f"moved from {path.name} to {dropped.name}"
    )
    return len(moved)


def set_aside_corrupt(paths: list[Path], log: Callable[[str], None]) -> None:
    """Rename checkpoints that failed verification to ``.corrupt-<name>`` (kept, never loaded again)."""
    for p in paths:
        target = p.with_name(f".corrupt-{p.name}")
        n = 1
        while target.exists():
            target, n = p.with_name(f".corrupt-{p.name}.{n}"), n + 1
        os.replace(p, target)
        log(f"note: corrupt checkpoint {p.name} kept as {target.name}")


def resume_point(
    ckpt_root: Path, log: Callable[[str], None], is_main: bool, barrier: Callable[[], None]
) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest checkpoint that verifies (scanning ``ckpt_root``) and its contents, or ``(None, None)``.

    Every rank loads; after ``barrier`` rank 0 (holding the run's lock) sets aside the checkpoints
    that failed verification and removes temporary checkpoints left by a killed trainer.
    """
    skipped: list[Path] = []
    found = load_newest_valid(ckpt_root, log, skipped)
    barrier()
    if is_main:
        set_aside_corrupt(skipped, log)
        for tmp in ckpt_root.glob(".step-*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)
    return found if found is not None else (None, None)
