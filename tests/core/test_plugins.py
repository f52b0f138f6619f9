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


def test_hook_without_ladd_prefix_is_reported_by_name_and_others_load(capsys):
    """An unknown hook name used to make ``pm.check_pending()`` raise out of the loader, stopping every plug-in."""
    unprefixed = _plugin(register_schedules=lambda register: register("toy", Toy))
    good = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    comps = load_plugins([("unprefixed", unprefixed), ("good", good)], use_entry_points=False)
    (failure,) = comps.failures
    assert failure.plugin == "unprefixed" and failure.stage == "register"
    assert "register_schedules" in failure.error and "did you mean ladd_register_schedules" in failure.error
    assert [p.name for p in comps.plugins] == ["good"]
    assert comps.registry("schedule").entry("toy").owner == "good"


def test_misnamed_hook_listed_by_ladd_plugins(monkeypatch, capsys):
    from ladd_core.cli.main import main

    misnamed = _plugin(ladd_register_schedulez=lambda register: None)
    monkeypatch.setattr(plugins_mod, "_iter_entry_points", lambda: [])
    plugins_mod.reset_components(load_plugins([("misnamed", misnamed)]))
    try:
        assert main(["plugins"]) == 0
    finally:
        plugins_mod.reset_components()
    out = capsys.readouterr().out
    assert "FAILED misnamed [register]" in out and "ladd_register_schedulez" in out


def test_trace_prints_every_hook_call(monkeypatch, capsys):
    monkeypatch.setenv("LADD_TRACE_PLUGINS", "1")
    toy = _plugin(ladd_register_schedules=lambda register: register("toy", Toy))
    comps = load_plugins([("toy-plugin", toy)], use_entry_points=False)
    assert "toy" in comps.registry("schedule")
    err = capsys.readouterr().err
    assert "ladd_register_schedules [hook]" in err
    assert "<Register schedule for plug-in 'toy-plugin'>" in err
    assert "finish ladd_register_schedules" in err


def test_trace_is_silent_by_default(monkeypatch, capsys):
    monkeypatch.delenv("LADD_TRACE_PLUGINS", raising=False)
    load_plugins([("toy-plugin", _plugin(ladd_register_schedules=lambda register: register("toy", Toy)))])
    assert "[hook]" not in capsys.readouterr().err


def test_ladd_plugins_cli_traces_hook_calls():
    import os
    import subprocess
    import sys

    env = {**os.environ, "LADD_TRACE_PLUGINS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ladd_core.cli.main", "plugins"], capture_output=True, text=True, env=env, check=True
    )
    assert "ladd_register_token_processes [hook]" in proc.stderr
    assert "<Register token_process for plug-in 'masked'>" in proc.stderr
    assert "masked" in proc.stdout


def test_failing_plugin_loses_its_other_hooks_too():
    def explode(register):
        raise ValueError("bad preset")

    half = _plugin(ladd_register_schedules=lambda register: register("toy", Toy), ladd_register_presets=explode)
    comps = load_plugins([("half", half)], use_entry_points=False)
    (failure,) = comps.failures
    assert failure.stage == "ladd_register_presets" and "ValueError: bad preset" in failure.error
    assert "bad preset" in failure.detail, "the traceback is kept for `ladd plugins --json` readers"
    assert "toy" not in comps.registry("schedule") and comps.plugins == []


def test_each_registration_is_validated_once(monkeypatch):
    calls = []
    original = plugins_mod.check_component_class

    def counting(kind):
        check = original(kind)

        def validate(name, obj):
            calls.append(name)
            check(name, obj)

        return validate

    monkeypatch.setattr(plugins_mod, "check_component_class", counting)
    comps = load_plugins(
        [("toy-plugin", _plugin(ladd_register_schedules=lambda register: register("toy", Toy)))], use_entry_points=False
    )
    assert "toy" in comps.registry("schedule")
    assert calls == ["toy"]
