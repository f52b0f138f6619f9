from __future__ import annotations

import ast
import importlib.metadata as md
import types
from pathlib import Path
from typing import Literal

import pytest

import ladd_core.plugins as plugins_mod
from ladd_core import hookimpl
from ladd_core.components.schedules import Schedule, ScheduleConfig
from ladd_core.kinds import KINDS
from ladd_core.plugins import load_plugins
from ladd_core.registry import DuplicateComponentError

ROOT = Path(__file__).resolve().parents[2]


class Toy(Schedule):
    """A toy schedule."""

    class Config(ScheduleConfig):
        name: Literal["toy"] = "toy"

    def alpha(self, t):
        return 1 - t

    def alpha_derivative(self, t):
        return -t * 0 - 1


def _plugin(**hooks):
    mod = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(mod, name, hookimpl(fn))
    return mod


def test_core_never_imports_plugins():
    plugin_pkgs = {p.name for p in (ROOT / "plugins").iterdir() if p.is_dir() and p.name.startswith("ladd_")}
    assert plugin_pkgs, "no plug-in packages found"
    offenders = []
    for path in (ROOT / "ladd_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in plugin_pkgs or n.split(".")[0] == "plugins":
                    offenders.append(f"{path.relative_to(ROOT)} imports {n}")
    assert not offenders, offenders


def test_one_registry_and_hook_per_kind():
    comps = load_plugins(use_entry_points=False)
    assert set(comps.registries) == set(KINDS)
    assert all(len(r) == 0 for r in comps.registries.values()), "nothing may be registered without plug-ins"
    from ladd_core import hookspecs

    for kind in KINDS.values():
        assert hasattr(hookspecs, kind.hook)


def test_builtins_register_through_entry_points(components):
    eps = {ep.name: ep.value for ep in md.entry_points(group="ladd")}
    assert eps["schedules"] == "ladd_schedules"
    owners = components.registry("schedule").owners()
    assert owners["schedules"] == ["cosine", "linear", "loglinear", "polynomial", "sqrt"]
    assert components.registry("token_process").list() == ["masked"]
    assert "none" in components.registry("latent")
    assert "dit" in components.registry("backbone")
    assert {"nelbo", "masked-ce"} <= set(components.registry("objective").list())
    assert "ancestral" in components.registry("sampler")
    assert {"sawtooth-mdlm", "shakespeare-mdlm"} <= set(components.registry("preset").list())
    assert not components.failures, components.failures


def test_extra_plugin_and_idempotent_registration():
    plugin = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    comps = load_plugins([("toy-plugin", plugin), ("toy-plugin", plugin)], use_entry_points=False)
    assert comps.registry("schedule").list() == ["toy"]
    assert comps.registry("schedule").entry("toy").owner == "toy-plugin"


def test_disable_plugins_env(monkeypatch):
    plugin = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    monkeypatch.setenv("LADD_DISABLE_PLUGINS", "toy-plugin,schedules")
    comps = load_plugins([("toy-plugin", plugin)])
    assert "toy" not in comps.registry("schedule")
    assert "linear" not in comps.registry("schedule")
    assert "masked" in comps.registry("token_process")
    assert {"toy-plugin", "schedules"} <= set(comps.blocked)


def test_load_plugins_allow_list(monkeypatch):
    monkeypatch.setenv("LADD_LOAD_PLUGINS", "schedules")
    comps = load_plugins()
    assert [p.name for p in comps.plugins] == ["schedules"]
    assert len(comps.registry("token_process")) == 0


def test_broken_plugin_is_isolated(monkeypatch):
    good = md.EntryPoint(name="schedules", value="ladd_schedules", group="ladd")
    bad = md.EntryPoint(name="broken", value="ladd_does_not_exist_xyz", group="ladd")
    monkeypatch.setattr(plugins_mod, "_iter_entry_points", lambda: [bad, good])

    def explode(register):
        register("toy", Toy)
        raise RuntimeError("boom in hook")

    raising = _plugin(ladd_register_schedules=explode)
    comps = load_plugins([("raising", raising)])
    failures = {f.plugin: f for f in comps.failures}
    assert failures["broken"].stage == "import" and "ModuleNotFoundError" in failures["broken"].error
    assert failures["raising"].stage == "ladd_register_schedules" and "boom in hook" in failures["raising"].error
    assert "toy" not in comps.registry("schedule"), "a failing hook must register nothing"
    assert "linear" in comps.registry("schedule"), "the other plug-ins still load"


def test_duplicate_across_plugins_names_both():
    p1 = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    p2 = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    with pytest.raises(DuplicateComponentError) as exc:
        load_plugins([("alpha", p1), ("beta", p2)], use_entry_points=False)
    assert "alpha" in str(exc.value) and "beta" in str(exc.value)


def test_bad_component_class_rejected():
    class NoLiteral(Schedule):
        class Config(ScheduleConfig):
            name: str = "x"

    p = _plugin(ladd_register_schedules=lambda register: register("x", NoLiteral))
    good = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    comps = load_plugins([("p", p), ("good", good)], use_entry_points=False)
    assert comps.registry("schedule").list() == ["toy"]
    (failure,) = comps.failures
    assert failure.plugin == "p" and "Literal" in failure.error


def test_misspelt_hook_is_rejected():
    p = _plugin(ladd_register_schedule=lambda register: None)  # missing 's'
    good = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    comps = load_plugins([("typo", p), ("good", good)], use_entry_points=False)
    (failure,) = comps.failures
    assert failure.plugin == "typo" and "ladd_register_schedule" in failure.error
    assert "toy" in comps.registry("schedule")
