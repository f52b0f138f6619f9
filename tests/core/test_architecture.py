"""The core's layers: no import cycle among ``ladd_core`` modules, and no built-in plug-in known by name.

Both checks read the source with :mod:`ast` (nothing is imported, no extra dependency).

How imports are counted:

* a module-level import (also inside ``try`` / ``if`` at module level) is an edge ``importer -> imported``;
* a function-level (deferred) import is an edge too: deferring an import hides a cycle from the
  interpreter, it does not remove it from the design, so the graph of *all* imports must be acyclic;
* an import under ``if TYPE_CHECKING:`` is not an edge: it never runs and only names types;
* importing ``a.b.c`` also imports the packages ``a.b`` (their ``__init__``), so those are edges as well,
  except for the importer's own parent packages (which are already being imported).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ladd_core.plugins import get_components

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "ladd_core"

EXCLUDED: set[Path] = set()  # nothing: the demo's and the bench's plans are plug-in data

ALLOWED_WORDS = {
    # (file, string): why the string is not the data source of that name
    ("cli/run_cmds.py", "text"): "the JSON field holding a sample's decoded text",
    ("capability.py", "text"): "the data capability 'text' (decodes to natural text), not the data source",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _targets(importer: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> Iterator[str]:
    """``ladd_core`` modules an import statement loads (the named module, else its package)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and not importer.startswith(prefix + ".") and prefix != importer:
                yield prefix


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, except those under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """``ladd_core`` module -> the ``ladd_core`` modules it imports (see the module docstring)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {t for node in _imports(tree) for t in _targets(name, node, path.name == "__init__.py")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_in_the_core():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in ladd_core: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\n")
    assert sorted(a.names[0].name for a in _imports(tree) if isinstance(a, ast.Import)) == ["y"]


def _builtin_names() -> dict[str, set[str]]:
    """Names the core must not know: the plug-in packages in the repository, and the presets and data
    sources the installed plug-ins register (the core's own sources are only parsed, never trusted)."""
    packages = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()}
    packages |= {p.name for p in (ROOT / "examples").glob("*/src/*") if (p / "__init__.py").is_file()}
    comps = get_components()
    return {
        "package": packages,
        "preset": set(comps.registry("preset").list()),
        "dataset": set(comps.registry("data").list()),
    }


def test_builtin_names_are_found():
    names = _builtin_names()
    assert {"ladd_dit", "ladd_masked", "ladd_presets", "ladd_latent_bits"} <= names["package"]
    assert {"sawtooth-mdlm", "shakespeare-coladd", "sawtooth-diladd"} <= names["preset"]
    assert {"sawtooth", "shakespeare", "text", "mixture"} <= names["dataset"]


def _offences(path: Path, names: dict[str, set[str]], root: Path = CORE) -> Iterator[str]:
    """Built-in names in ``path``: imports of plug-in packages, and strings naming a package, preset or dataset.

    A plug-in package or preset name is an offence anywhere in a string (word by word, docstrings and
    help texts included). A dataset name is an offence when the string *is* the name or an item of a
    comma-separated list (``"sawtooth,shakespeare"``): dataset names are ordinary words ("text",
    "mixture") that prose may use.
    """
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                if mod.split(".")[0] in names["package"] | {"plugins"}:
                    yield f"{rel}:{node.lineno} imports {mod}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = set(re.findall(r"[A-Za-z0-9_-]+", node.value))
            items = {item.strip() for item in node.value.split(",")}
            hits = words & (names["package"] | names["preset"]) | items & names["dataset"]
            for hit in sorted(hits):
                if (rel, hit) not in ALLOWED_WORDS:
                    yield f"{rel}:{node.lineno} names {hit!r}"


def test_core_names_no_builtin_plugin_preset_or_dataset():
    names = _builtin_names()
    offences = [o for p in MODULES.values() if p not in EXCLUDED for o in _offences(p, names)]
    assert not offences, "the core must learn these from plug-ins:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import ladd_dit.dit\n", "imports ladd_dit.dit"),
        ('"""Uses sawtooth-mdlm."""\n', "names 'sawtooth-mdlm'"),
        ('DATASETS = "sawtooth,shakespeare"\n', "names 'sawtooth'"),
        ('x = "shakespeare"\n', "names 'shakespeare'"),
    ],
)
def test_the_name_check_catches(tmp_path, source, expected):
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    assert any(expected in o for o in _offences(fake, _builtin_names(), root=tmp_path))


def test_prose_may_use_ordinary_words(tmp_path):
    fake = tmp_path / "prose.py"
    fake.write_text('"""Decode ids to text; a mixture of two things."""\n')
    assert not list(_offences(fake, _builtin_names(), root=tmp_path))
