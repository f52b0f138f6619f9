"""The ``"zero_shot"`` evaluation resource: the second corpus that ``zero-shot-nelbo`` scores."""

from __future__ import annotations

import codecs
from pathlib import Path

from ladd_core.evaluation.engine import Resource

__all__ = ["zero_shot_resource"]


def _check_utf8(path: Path) -> None:
    """Refuse a ``--zero-shot`` file that is not UTF-8 text (it would be scored as replacement characters).

    Raises:
        ValueError: naming the file and the first bad byte.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ValueError(f"--zero-shot file {path} is not UTF-8 text (byte {offset + exc.start})") from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValueError(f"--zero-shot file {path} is not UTF-8 text (it ends inside a character)") from None


def zero_shot_resource(path: Path | None) -> Resource:
    """The ``"zero_shot"`` resource (the text file of ``zero-shot-nelbo``) from a ``--zero-shot`` argument.

    Shared by ``ladd eval`` and ``ladd bench``.

    Raises:
        FileNotFoundError: ``path`` is given but is not a file (checked before any training or sampling).
    """
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"--zero-shot file {path} not found")
    if path is not None:
        _check_utf8(path)
    return Resource(path is not None, lambda: path, str(path or ""))
