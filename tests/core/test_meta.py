"""Meta-tests that keep the extension surface honest."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from ladd_core import hookspecs
from ladd_core.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("ladd_"))


def test_every_hook_is_documented_with_its_signature():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    for name in HOOKS:
        sig = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
        assert f"### {name}" in doc, f"docs/plugins.md lacks a section for {name}"
        assert f"`{name}{sig}`" in doc, f"docs/plugins.md does not state the exact signature of {name}: {sig}"


def test_every_hook_has_a_kind():
    assert sorted(k.hook for k in KINDS.values()) == HOOKS


def test_every_kind_is_exercised_by_a_test():
    """Each hook's registry must be used by at least one test (by kind name) besides this file."""
    texts = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_meta.py")
    for kind in KINDS:
        assert re.search(rf"registry\(\"{kind}\"\)|get\(\"{kind}\"", texts), f"no test looks up kind {kind!r}"


def test_core_files_stay_small():
    big = [p for p in (ROOT / "ladd_core").rglob("*.py") if len(p.read_text().splitlines()) > 400]
    assert not big, f"split these modules (<= 400 lines): {big}"
