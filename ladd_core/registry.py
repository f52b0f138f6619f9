"""Typed registries: one per component kind.

A :class:`Registry` maps short, stable names (``"linear"``, ``"gaussian"``) to
component classes.  Registries are filled by plug-ins through the
``ladd_register_<kind>s`` hooks (see :mod:`ladd_core.hookspecs`); nothing is
registered at import time.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

__all__ = [
    "ComponentError",
    "DuplicateComponentError",
    "Entry",
    "Register",
    "Registry",
    "UnknownComponentError",
    "register_classes",
    "register_each",
]


class ComponentError(Exception):
    """Base class of registry errors."""


class UnknownComponentError(ComponentError, KeyError):
    """A name that no installed plug-in registered.

    Subclasses :class:`KeyError` so ``except KeyError`` keeps working, but
    overrides ``__str__`` because ``KeyError`` would quote the whole message.
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        lines = [f"unknown {self.kind} {self.name!r}."]
        close = difflib.get_close_matches(self.name, self.known, n=1, cutoff=0.5)
        if close:
            lines[0] += f" Did you mean {close[0]!r}?"
        lines.append(f"  Known {self.kind} names: {', '.join(self.known) or '(none registered)'}.")
        lines.append("  If it comes from a plug-in, check it is installed: `ladd plugins`.")
        return "\n".join(lines)


class DuplicateComponentError(ComponentError, ValueError):
    """Two plug-ins registered the same name for the same kind."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component.

    Attributes:
        name: the registered name, used in configs.
        obj: the registered object (usually a class with a nested ``Config``).
        owner: the plug-in that registered it (its pluggy name).
        aliases: extra names that resolve to the same entry.
    """

    name: str
    obj: T
    owner: str
    aliases: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        """``module:line`` where the object is defined, or its module alone."""
        mod = getattr(self.obj, "__module__", "?")
        try:
            line = inspect.getsourcelines(self.obj)[1]  # type: ignore[arg-type]
        except (TypeError, OSError):
            return mod
        return f"{mod}:{line}"


class Register(Protocol[T_contra]):
    """The ``register`` callback every ``ladd_register_<kind>s`` hook receives.

    A plug-in annotates its hook with the kind's object type, e.g.
    ``def ladd_register_schedules(register: Register[type[Schedule]]) -> None``,
    and calls ``register("name", obj, aliases=("alias",))`` once per
    component.  The loader hands each plug-in its own callback, so what a
    plug-in registers is owned by it and is dropped as a whole when any of its
    hooks fails (see :mod:`ladd_core.plugins`).
    """

    def __call__(self, name: str, obj: T_contra, *, aliases: tuple[str, ...] = ()) -> None:
        """Stage ``obj`` under ``name`` (and ``aliases``) for this plug-in."""
        ...


@dataclass
class Registry(Generic[T]):
    """Name -> component map for one kind.

    Attributes:
        kind: singular noun for messages (``"latent"``).
        description: the constructor contract components of this kind follow.
        validator: optional check run on every registered object; raises
            ``TypeError`` with a readable message when the object is unfit.
    """

    kind: str
    description: str = ""
    validator: Callable[[str, Any], None] | None = None
    _entries: dict[str, Entry[T]] = field(default_factory=dict, repr=False)
    _aliases: dict[str, str] = field(default_factory=dict, repr=False)

    def check(self, name: str, obj: T) -> None:
        """Raise ``TypeError`` when ``name`` is not a non-empty string or the validator rejects ``obj``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if self.validator is not None:
            self.validator(name, obj)

    def register(
        self,
        name: str,
        obj: T,
        *,
        owner: str = "<direct>",
        aliases: tuple[str, ...] = (),
        checked: bool = False,
    ) -> None:
        """Add ``obj`` under ``name``.

        Args:
            name: the registered name.
            obj: the component.
            owner: the plug-in registering it (named in duplicate errors).
            aliases: extra names resolving to the same entry.
            checked: the caller already ran :meth:`check` on ``(name, obj)``
                (the plug-in loader validates while collecting), so skip it.

        Raises:
            DuplicateComponentError: the name (or an alias) is taken; the
                message names both owners.
            TypeError: :meth:`check` rejected ``(name, obj)``.
        """
        if not checked:
            self.check(name, obj)
        for n in (name, *aliases):
            taken = self._resolve(n)
            if taken is not None:
                prev = self._entries[taken]
                raise DuplicateComponentError(
                    f"{self.kind} {n!r} is registered twice: by plug-in {prev.owner!r} "
                    f"({prev.location}) and by plug-in {owner!r}. Disable one with "
                    f"LADD_DISABLE_PLUGINS=<name>."
                )
        self._entries[name] = Entry(name, obj, owner, tuple(aliases))
        for a in aliases:
            self._aliases[a] = name

    def _resolve(self, name: str) -> str | None:
        if name in self._entries:
            return name
        return self._aliases.get(name)

    def entry(self, name: str) -> Entry[T]:
        """The full :class:`Entry` for ``name`` (or an alias)."""
        key = self._resolve(name)
        if key is None:
            raise UnknownComponentError(self.kind, name, self.list())
        return self._entries[key]

    def get(self, name: str) -> T:
        """The object registered under ``name``.

        Raises:
            UnknownComponentError: lists the known names and suggests the closest.
        """
        return self.entry(name).obj

    def list(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by an ``fnmatch`` pattern."""
        names = sorted(self._entries)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def describe(self, name: str) -> dict[str, Any]:
        """Owner, location, docstring and (when the object has a ``Config``) its JSON schema."""
        e = self.entry(name)
        info: dict[str, Any] = {
            "kind": self.kind,
            "name": e.name,
            "aliases": list(e.aliases),
            "owner": e.owner,
            "location": e.location,
            "doc": inspect.getdoc(e.obj) or "",
        }
        cfg = getattr(e.obj, "Config", None)
        if cfg is not None and hasattr(cfg, "model_json_schema"):
            info["config_schema"] = cfg.model_json_schema()
        return info

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, obj)`` pairs in name order."""
        for n in self.list():
            yield n, self._entries[n].obj

    def owners(self) -> dict[str, list[str]]:
        """Plug-in name -> names it registered here."""
        out: dict[str, list[str]] = {}
        for n in self.list():
            out.setdefault(self._entries[n].owner, []).append(n)
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._resolve(name) is not None

    def __len__(self) -> int:
        return len(self._entries)


def register_each(register: Register[T], table: Mapping[str, T]) -> None:
    """Call ``register(name, obj)`` for every entry of ``table``, in its order.

    For hooks whose components are data (presets, bench plans, config defaults):
    ``register_each(register, PRESETS)``.
    """
    for name, obj in table.items():
        register(name, obj)


def register_classes(register: Register[type[Any]], *classes: type[Any]) -> None:
    """Register each component class under the name its ``Config`` declares, in the order given.

    A component's name is stated once, in its config (``name: Literal["linear"] = "linear"``); the kind's
    validator still checks it is the config's one-value ``Literal``.  A plug-in imports its classes inside the
    hook (when the plug-ins load, never when the plug-in package is imported)::

        @hookimpl
        def ladd_register_schedules(register: Register[type[Schedule]]) -> None:
            from my_pkg.schedules import LinearSchedule

            register_classes(register, LinearSchedule)
    """
    for cls in classes:
        register(cls.Config.model_fields["name"].default, cls)
