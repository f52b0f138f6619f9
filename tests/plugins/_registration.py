"""Test helper: a built-in plug-in registers its components, alone and through the installed entry points."""

from __future__ import annotations

from ladd_core.plugins import load_plugins


def assert_registers(plugin: str, module: object, kind: str, expected: dict[str, type]) -> None:
    """``module``, loaded alone as ``plugin``, registers ``expected`` (name -> class) of ``kind`` and owns it;
    the installed entry points load it without failure and give the same classes."""
    comps = load_plugins(extra_plugins=[(plugin, module)], use_entry_points=False)
    assert not comps.failures
    for name, cls in expected.items():
        assert comps.get(kind, name) is cls
        assert comps.registry(kind).entry(name).owner == plugin
    via_entry_points = load_plugins()
    assert plugin not in {f.plugin for f in via_entry_points.failures}
    for name, cls in expected.items():
        assert via_entry_points.get(kind, name) is cls
