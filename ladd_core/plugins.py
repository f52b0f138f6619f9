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

A plug-in that fails to import, implements a hook ladd does not define (a typo,
a missing ``ladd_`` prefix), raises in a hook or registers an unfit object is
reported by name (:attr:`Components.failures`, ``ladd plugins``), registers
nothing, and the others still load.  Two plug-ins registering the same name is
an error naming both.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ladd_core import hookspecs
from ladd_core.config.base import ComponentConfig
from ladd_core.config.experiment import build_experiment_model
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


@dataclass(frozen=True)
class _Staged:
    """One ``register(name, obj, aliases=...)`` call, not yet committed."""

    name: str
    obj: Any
    aliases: tuple[str, ...]


class _Staging:
    """The :class:`~ladd_core.registry.Register` handed to one plug-in's hook for one kind.

    It only records; :meth:`validate` checks every record once, and the
    loader commits a plug-in's records only when all its hooks succeeded, so a
    failing plug-in registers nothing.
    """

    def __init__(self, registry: Registry[Any], owner: str) -> None:
        self.registry = registry
        self.owner = owner
        self.items: list[_Staged] = []

    def __call__(self, name: str, obj: Any, *, aliases: tuple[str, ...] = ()) -> None:
        self.items.append(_Staged(name, obj, tuple(aliases)))

    def __repr__(self) -> str:  # shown by LADD_TRACE_PLUGINS
        return f"<Register {self.registry.kind} for plug-in {self.owner!r}>"

    def validate(self) -> None:
        """Run the registry's check on every record (raises ``TypeError``)."""
        for item in self.items:
            self.registry.check(item.name, item.obj)


@dataclass(frozen=True)
class _Candidate:
    """A plug-in object found by discovery, with its distribution (when from an entry point)."""

    name: str
    obj: object
    version: str | None = None
    distribution: str | None = None


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

    def component_configs(self) -> dict[str, list[type[ComponentConfig]]]:
        """Kind -> the ``Config`` classes registered for it, for the component kinds (not presets or other data)."""
        return {
            kind.name: [cls.Config for _, cls in self.registries[kind.name].items()]
            for kind in KINDS.values()
            if kind.is_component
        }

    @property
    def config_model(self) -> Any:
        """The experiment config model with unions over these registries (built once)."""
        if self._config_model is None:
            self._config_model = build_experiment_model(
                self.component_configs(), dict(self.registries["default"].items())
            )
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


def _failure(plugin: str, stage: str, exc: BaseException, *, with_traceback: bool = True) -> PluginFailure:
    detail = "".join(traceback.format_exception(exc)) if with_traceback else ""
    return PluginFailure(plugin, stage, f"{type(exc).__name__}: {exc}", detail)


def load_plugins(
    extra_plugins: Iterable[tuple[str, object]] = (),
    *,
    use_entry_points: bool = True,
) -> Components:
    """Discover plug-ins and fill fresh registries.

    Four steps, each isolating failures per plug-in: :func:`_discover` (switches,
    entry-point imports), :func:`_register` (pluggy registration and unknown-hook
    check), :func:`_collect` (every hook called through pluggy's hook caller, one
    plug-in at a time, records validated) and :func:`_commit` (records of
    plug-ins with no failure go into the registries).

    Args:
        extra_plugins: ``(name, module_or_object)`` pairs registered directly
            (tests, notebooks); subject to the same blocking.
        use_entry_points: load entry points of group ``ladd``.

    Returns:
        A new :class:`Components`.  Use :func:`get_components` for the cached default.

    Raises:
        DuplicateComponentError: two plug-ins registered the same name (the
            message names both); this is a conflict between plug-ins, not a
            fault of one, so it is not isolated.
    """
    comps = Components(registries=_new_registries())
    candidates = _discover(comps, extra_plugins, use_entry_points)
    loaded = _register(comps, candidates)
    staged = _collect(comps, loaded)
    _commit(comps, loaded, staged)
    return comps


@dataclass
class _Loaded:
    """A plug-in registered with its own plug-in manager.

    Each plug-in gets a :class:`pluggy.PluginManager` of its own, so calling
    ``pm.hook.<hook>(register=...)`` -- pluggy's hook caller, with its argument
    checks and tracing -- runs exactly that plug-in's implementation and one
    plug-in's exception cannot stop another's hook.  (``subset_hook_caller``
    would do the same on one manager but needs hashable plug-in objects.)
    """

    pm: pluggy.PluginManager
    info: PluginInfo


def _new_manager() -> pluggy.PluginManager:
    """A plug-in manager with ladd's hookspecs; ``LADD_TRACE_PLUGINS`` prints every hook call to stderr."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("LADD_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))  # late-bound: honours a redirected stderr
        pm.enable_tracing()
    return pm


def _discover(
    comps: Components, extra_plugins: Iterable[tuple[str, object]], use_entry_points: bool
) -> list[_Candidate]:
    """Apply ``LADD_DISABLE_PLUGINS`` / ``LADD_LOAD_PLUGINS`` and import the entry points.

    Blocked names go to ``comps.blocked``; an entry point that fails to import
    is a failure of stage ``"import"``.
    """
    disabled = set(_env_list("LADD_DISABLE_PLUGINS") or [])
    allowed = _env_list("LADD_LOAD_PLUGINS")

    def wanted(name: str) -> bool:
        if name in disabled or (allowed is not None and name not in allowed):
            comps.blocked.append(name)
            return False
        return True

    extra_plugins = list(extra_plugins)
    if use_entry_points:
        installed = {ep.name for ep in _iter_entry_points()} | {name for name, _ in extra_plugins}
        _check_selection(allowed, disabled, installed, comps)
    found: list[_Candidate] = []
    for ep in _iter_entry_points() if use_entry_points else ():
        if not wanted(ep.name):
            continue
        try:
            obj = ep.load()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a broken plug-in must not take others down
            comps.failures.append(_failure(ep.name, "import", exc))
            continue
        dist = getattr(ep, "dist", None)
        found.append(_Candidate(ep.name, obj, getattr(dist, "version", None), getattr(dist, "name", None)))
    found.extend(_Candidate(name, obj) for name, obj in extra_plugins if wanted(name))
    return found


def _check_selection(allowed: list[str] | None, disabled: set[str], installed: set[str], comps: Components) -> None:
    """Names in ``LADD_LOAD_PLUGINS``/``LADD_DISABLE_PLUGINS`` that match no plug-in: a warning, never silence."""
    for var, names in (("LADD_LOAD_PLUGINS", allowed or []), ("LADD_DISABLE_PLUGINS", sorted(disabled))):
        for name in names:
            if name not in installed:
                known = ", ".join(sorted(installed))
                msg = f"{var} names {name!r}, which is not an installed plug-in (installed: {known})"
                comps.failures.append(PluginFailure(name, var, msg))
                print(f"warning: {msg}", file=sys.stderr)


def _register(comps: Components, candidates: list[_Candidate]) -> dict[str, _Loaded]:
    """Register each candidate with a manager of its own; reject (and report) hookimpls matching no hookspec.

    Returns:
        Plug-in name -> :class:`_Loaded`, in discovery order.
    """
    loaded: dict[str, _Loaded] = {}
    for cand in candidates:
        if cand.name in loaded or any(done.pm.is_registered(cand.obj) for done in loaded.values()):
            continue  # the same plug-in offered twice
        pm = _new_manager()
        try:
            pm.register(cand.obj, name=cand.name)
        except Exception as exc:  # e.g. a hookimpl asking for an argument the hook does not pass
            comps.failures.append(_failure(cand.name, "register", exc, with_traceback=False))
            continue
        unknown = _unknown_hooks(pm, cand.obj)
        if unknown:  # what ``pm.check_pending()`` would raise, reported for this plug-in only
            comps.failures.append(PluginFailure(cand.name, "register", _unknown_hooks_message(unknown)))
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(cand.obj) or [])
        loaded[cand.name] = _Loaded(pm, PluginInfo(cand.name, cand.version, cand.distribution, hooks))
    return loaded


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Non-optional hookimpls of ``plugin`` that match no ladd hookspec (a typo, or a missing ``ladd_`` prefix)."""
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if not caller.has_spec() and any(not impl.optionalhook for impl in caller.get_hookimpls())
    )


def _unknown_hooks_message(unknown: list[str]) -> str:
    known = sorted(name for name in dir(hookspecs) if name.startswith("ladd_"))
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return f"implements unknown hook(s) {', '.join(hints)}; known hooks: {', '.join(known)}"


def _collect(comps: Components, loaded: dict[str, _Loaded]) -> dict[str, list[_Staging]]:
    """Call every registration hook of every plug-in through pluggy and validate what each registers.

    A plug-in whose hook raises, or registers an unfit object, is a failure
    under that hook's name and loses everything it staged.

    Returns:
        Plug-in name -> its staged registrations (plug-ins without failures only).
    """
    staged: dict[str, list[_Staging]] = {}
    failed: set[str] = set()
    for kind in KINDS.values():
        for name, plugin in loaded.items():
            if name in failed or kind.hook not in plugin.info.hooks:
                continue
            staging = _Staging(comps.registries[kind.name], name)
            try:
                getattr(plugin.pm.hook, kind.hook)(register=staging)
                staging.validate()
            except Exception as exc:  # isolate the plug-in, keep the others
                failed.add(name)
                staged.pop(name, None)
                comps.failures.append(_failure(name, kind.hook, exc))
                continue
            staged.setdefault(name, []).append(staging)
    return staged


def _commit(comps: Components, loaded: dict[str, _Loaded], staged: dict[str, list[_Staging]]) -> None:
    """Put the staged registrations into the registries and list the plug-ins that loaded."""
    failed = {f.plugin for f in comps.failures}
    for owner, stagings in staged.items():
        for staging in stagings:
            for item in staging.items:
                staging.registry.register(item.name, item.obj, owner=owner, aliases=item.aliases, checked=True)
                loaded[owner].info.components.setdefault(staging.registry.kind, []).append(item.name)
    infos = (plugin.info for name, plugin in loaded.items() if name not in failed)
    comps.plugins = sorted(infos, key=lambda p: p.name)


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
