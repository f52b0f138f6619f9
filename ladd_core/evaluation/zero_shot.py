"""The ``"zero_shot"`` evaluation resource: the second corpus that ``zero-shot-nelbo`` scores."""

from __future__ import annotations

from pathlib import Path

from ladd_core.evaluation.engine import Resource

__all__ = ["zero_shot_resource"]


def zero_shot_resource(path: Path | None) -> Resource:
    """The ``"zero_shot"`` resource (the text file of ``zero-shot-nelbo``) from a ``--zero-shot`` argument.

    Shared by ``ladd eval`` and ``ladd bench``.

    Raises:
        FileNotFoundError: ``path`` is given but is not a file (checked before any training or sampling).
    """
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"--zero-shot file {path} not found")
    return Resource(path is not None, lambda: path, str(path or ""))
