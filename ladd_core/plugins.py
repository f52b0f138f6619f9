"""Plug-in discovery and the component registries.

Writing a plug-in, in short:

1. write a module with functions decorated ``@ladd_core.hookimpl`` named after
   hooks in :mod:`ladd_core.hookspecs` (``ladd_register_latents`` ...);
2. in each, call ``register("my-name", MyClass)``; ``MyClass.Config`` subclasses
   the kind's base config with ``name: Literal["my-name"] = "my-name"``;
3. expose the module as an entry point in group ``ladd`` and install the package.

Discovery is lazy (nothing happens at import) and idempotent
(:func:`get_components` caches).  Switches:

* ``LADD_DISABLE_PLUGINS=a,b`` -- block these plug-ins (entry-point names);
* ``LADD_LOAD_PLUGINS=a,b`` -- load only these (``""`` loads none);
* ``LADD_TRACE_PLUGINS=1`` -- print every hook call to stderr.

A plug-in that fails to import, or raises in a hook, is reported by name
(:attr:`Components.failures`, ``ladd plugins``) and the others still load.
Two plug-ins registering the same name is an error naming both.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ladd_core import hookspecs
from ladd_core.kinds import KINDS, check_component_class
from ladd_core.registry import Registry

__all__ = ["ENTRY_POINT_GROUP", "Components", "PluginFailure", "get_components", "load_plugins", "reset_components"]

ENTRY_POINT_GROUP = "ladd"


@dataclass(frozen=True)
class PluginFailure:
    """A plug-in that could not be loaded or whose hook raised.

    Attributes:
        plugin: the plug-in's name.
        stage: ``"import"`` or the hook name.
        error: the one-line error.
        detail: the traceback.
    """

    plugin: str
    stage: str
    error: str
    detail: str = ""


@dataclass
class PluginInfo:
    """A loaded plug-in and what it registered."""

    name: str
    version: str | None
    distribution: str | None
    hooks: list[str]
    components: dict[str, list[str]] = field(default_factory=dict)


class _Staging:
    """Collects one hook call's registrations so a failing hook registers nothing."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, tuple[str, ...]]] = []

    def __call__(self, name: str, obj: Any, *, aliases: tuple[str, ...] = ()) -> None:
        self.items.append((name, obj, tuple(aliases)))


@dataclass
class Components:
    """The registries of one plug-in set, and what happened while loading it.

    Attributes:
        registries: kind -> :class:`Registry`.
        plugins: loaded plug-ins with versions and registered names.
        failures: plug-ins that failed (reported, not fatal).
        blocked: plug-in names blocked by ``LADD_DISABLE_PLUGINS`` or the allow-list.
    """

    registries: dict[str, Registry[Any]]
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    _config_model: Any = None

    def registry(self, kind: str) -> Registry[Any]:
        """The registry of ``kind``; raises ``KeyError`` listing the kinds."""
        try:
            return self.registries[kind]
        except KeyError:
            raise KeyError(f"unknown component kind {kind!r}; kinds: {', '.join(self.registries)}") from None

    def get(self, kind: str, name: str) -> Any:
        """Shortcut for ``registry(kind).get(name)``."""
        return self.registry(kind).get(name)

    @property
    def config_model(self) -> Any:
        """The experiment config model with unions over these registries (built once)."""
        if self._config_model is None:
            from ladd_core.config.experiment import build_experiment_model

            self._config_model = build_experiment_model(self)
        return self._config_model


def _new_registries() -> dict[str, Registry[Any]]:
    return {
        k.name: Registry(kind=k.name, description=k.description, validator=check_component_class(k))
        for k in KINDS.values()
    }


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


def _iter_entry_points() -> Iterable[md.EntryPoint]:
    return md.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(
    extra_plugins: Iterable[tuple[str, object]] = (),
    *,
    use_entry_points: bool = True,
) -> Components:
    """Discover plug-ins and fill fresh registries.

    Args:
        extra_plugins: ``(name, module_or_object)`` pairs registered directly
            (tests, notebooks); subject to the same blocking.
        use_entry_points: load entry points of group ``ladd``.

    Returns:
        A new :class:`Components`.  Use :func:`get_components` for the cached default.
    """
    pm = pluggy.PluginManager("ladd")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("LADD_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    disabled = set(_env_list("LADD_DISABLE_PLUGINS") or [])
    allowed = _env_list("LADD_LOAD_PLUGINS")
    comps = Components(registries=_new_registries())
    dists: dict[str, tuple[str | None, str | None]] = {}

    def wanted(name: str) -> bool:
        if name in disabled or (allowed is not None and name not in allowed):
            comps.blocked.append(name)
            pm.set_blocked(name)
            return False
        return True

    candidates: list[tuple[str, Any]] = []
    if use_entry_points:
        extra_plugins = list(extra_plugins)
        names = {ep.name for ep in _iter_entry_points()} | {n for n, _ in extra_plugins}
        _check_selection(allowed, disabled, names, comps)
        for ep in _iter_entry_points():
            if not wanted(ep.name):
                continue
            try:
                obj = ep.load()
            except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a broken plug-in must not take others down
                comps.failures.append(
                    PluginFailure(ep.name, "import", f"{type(exc).__name__}: {exc}", traceback.format_exc())
                )
                continue
            dist = getattr(ep, "dist", None)
            dists[ep.name] = (getattr(dist, "version", None), getattr(dist, "name", None))
            candidates.append((ep.name, obj))
    for name, obj in extra_plugins:
        if wanted(name):
            candidates.append((name, obj))
    for name, obj in candidates:
        if pm.has_plugin(name) or pm.is_registered(obj):
            continue
        try:
            pm.register(obj, name=name)
        except Exception as exc:
            comps.failures.append(PluginFailure(name, "register", f"{type(exc).__name__}: {exc}"))
    _reject_unknown_hooks(pm, comps)
    pm.check_pending()

    infos: dict[str, PluginInfo] = {}
    for name, obj in pm.list_name_plugin():
        if obj is None:
            continue
        hooks = sorted(h.name for h in (pm.get_hookcallers(obj) or []))
        version, dist_name = dists.get(name, (None, None))
        infos[name] = PluginInfo(name, version, dist_name, hooks)
    failed: set[str] = set()
    for kind in KINDS.values():
        registry = comps.registries[kind.name]
        caller = getattr(pm.hook, kind.hook)
        for impl in caller.get_hookimpls():
            if impl.plugin_name in failed:
                continue
            staging = _Staging()
            try:
                impl.function(register=staging)
            except Exception as exc:
                failed.add(impl.plugin_name)
                comps.failures.append(
                    PluginFailure(impl.plugin_name, kind.hook, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                )
                continue
            try:
                for cname, cobj, _ in staging.items:
                    if registry.validator is not None:
                        registry.validator(cname, cobj)
            except TypeError as exc:
                failed.add(impl.plugin_name)
                comps.failures.append(PluginFailure(impl.plugin_name, kind.hook, f"TypeError: {exc}"))
                continue
            for cname, cobj, aliases in staging.items:
                registry.register(cname, cobj, owner=impl.plugin_name, aliases=aliases)
                infos[impl.plugin_name].components.setdefault(kind.name, []).append(cname)
    if failed:  # drop whatever a failed plug-in registered through its other hooks
        comps.registries = _without_owners(comps.registries, failed)
        for n in failed:
            infos.pop(n, None)
    comps.plugins = sorted(infos.values(), key=lambda p: p.name)
    return comps


def _check_selection(allowed: list[str] | None, disabled: set[str], installed: set[str], comps: Components) -> None:
    """Names in ``LADD_LOAD_PLUGINS``/``LADD_DISABLE_PLUGINS`` that match no plug-in: a warning, never silence."""
    for var, names in (("LADD_LOAD_PLUGINS", allowed or []), ("LADD_DISABLE_PLUGINS", sorted(disabled))):
        for name in names:
            if name not in installed:
                known = ", ".join(sorted(installed))
                msg = f"{var} names {name!r}, which is not an installed plug-in (installed: {known})"
                comps.failures.append(PluginFailure(name, var, msg))
                print(f"warning: {msg}", file=sys.stderr)


def _reject_unknown_hooks(pm: pluggy.PluginManager, comps: Components) -> None:
    """Unregister plug-ins that implement a hook ladd does not define (a typo), reporting them."""
    known = {name for name in dir(hookspecs) if name.startswith("ladd_")}
    for name, obj in list(pm.list_name_plugin()):
        if obj is None:
            continue
        bad = sorted(
            attr
            for attr in dir(obj)
            if attr.startswith("ladd_") and attr not in known and pm.parse_hookimpl_opts(obj, attr) is not None
        )
        if bad:
            pm.unregister(obj)
            comps.failures.append(
                PluginFailure(name, "register", f"implements unknown hook(s) {bad}; known hooks: {sorted(known)}")
            )


def _without_owners(registries: dict[str, Registry[Any]], owners: set[str]) -> dict[str, Registry[Any]]:
    fresh = _new_registries()
    for kind, reg in registries.items():
        for name in reg.list():
            e = reg.entry(name)
            if e.owner not in owners:
                fresh[kind].register(name, e.obj, owner=e.owner, aliases=e.aliases)
    return fresh


_DEFAULT: Components | None = None


def get_components() -> Components:
    """The default components (entry points), discovered on first use and cached."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_plugins()
    return _DEFAULT


def reset_components(components: Components | None = None) -> None:
    """Forget (or replace) the cached default components (tests, after installing a plug-in)."""
    global _DEFAULT
    _DEFAULT = components
