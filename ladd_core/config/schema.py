"""Build the concrete config models once the plug-ins are known.

Configs reference other components through :class:`~ladd_core.config.base.Ref`
markers.  :class:`SchemaBuilder` turns every such field into a pydantic
discriminated union (tag: ``name``) over the configs registered for that kind,
by *subclassing* the declared model (the original classes are never mutated),
so the same component class can take part in several plug-in sets.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Field, Tag, create_model
from pydantic.fields import FieldInfo

from ladd_core.config.base import ComponentConfig, Ref
from ladd_core.config.errors import UNKNOWN_COMPONENT

__all__ = ["SchemaBuilder", "config_name_literal", "ref_marker"]


def config_name_literal(cfg: type[ComponentConfig]) -> str | None:
    """The single ``Literal`` value of ``cfg.name``, or ``None`` if it is not a one-value Literal."""
    ann = cfg.model_fields["name"].annotation
    if get_origin(ann) is Literal and len(get_args(ann)) == 1:
        return get_args(ann)[0]
    return None


def ref_marker(field: FieldInfo) -> tuple[Ref | None, bool]:
    """(marker, optional) for a field declared with a Ref, else (None, False)."""
    for m in field.metadata:
        if isinstance(m, Ref):
            return m, False
    ann = field.annotation
    if get_origin(ann) in (Union, types.UnionType):
        args = get_args(ann)
        if type(None) in args:
            for a in args:
                if get_origin(a) is Annotated:
                    for m in a.__metadata__:
                        if isinstance(m, Ref):
                            return m, True
    return None, False


def _model_type(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


def _tag_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name")
    return getattr(value, "name", None)


class SchemaBuilder:
    """Resolves Ref fields against a set of registries.

    Args:
        configs_by_kind: kind -> list of registered ``Config`` classes.
        defaults: ``(model class, field name)`` -> the component name a Ref
            field of that model defaults to (replacing the field's own default).
    """

    def __init__(
        self,
        configs_by_kind: dict[str, list[type[ComponentConfig]]],
        defaults: dict[tuple[type[BaseModel], str], str] | None = None,
    ) -> None:
        self._configs = configs_by_kind
        self._defaults = dict(defaults or {})
        self._resolved: dict[type[BaseModel], type[BaseModel]] = {}
        self._unions: dict[str, Any] = {}
        self._in_progress: set[type[BaseModel]] = set()

    def union(self, kind: str) -> Any:
        """The discriminated union type over every config registered for ``kind``."""
        if kind in self._unions:
            return self._unions[kind]
        members = [self.resolve(c) for c in self._configs.get(kind, [])]
        tagged = tuple(Annotated[m, Tag(config_name_literal(m) or m.__name__)] for m in members)
        # A Union of fewer than two members collapses; pad it with never-matching tags so the
        # discriminator still produces the 'unknown <kind>' error (listing no names if none is registered).
        tagged = (*tagged, *_NEVER[: max(0, 2 - len(tagged))])
        known = ",".join(config_name_literal(m) or m.__name__ for m in members)
        # The error type carries kind and known names (a context dict would make the type unhashable).
        disc = Discriminator(
            _tag_of,
            custom_error_type=f"{UNKNOWN_COMPONENT}:{kind}:{known}",
            custom_error_message=f"unknown {kind}",
        )
        u = Annotated[Union[tagged], disc]  # type: ignore[valid-type]  # noqa: UP007
        self._unions[kind] = u
        return u

    def resolve(self, model: type[BaseModel]) -> type[BaseModel]:
        """``model`` itself when it holds no Ref (directly or nested), else a resolved subclass."""
        if model in self._resolved:
            return self._resolved[model]
        if model in self._in_progress:
            raise TypeError(f"config {model.__name__} references itself through Ref fields")
        self._in_progress.add(model)
        try:
            overrides: dict[str, Any] = {}
            for fname, field in model.model_fields.items():
                marker, optional = ref_marker(field)
                if marker is not None:
                    u = self.union(marker.kind)
                    ann = typing.Optional[u] if optional else u  # noqa: UP045
                    default = self._defaults.get((model, fname))
                    overrides[fname] = (ann, _copy_field(field) if default is None else _default_field(field, default))
                    continue
                sub = _model_type(field.annotation)
                if sub is not None:
                    new = self.resolve(sub)
                    if new is not sub:
                        # a default instance of the unresolved model would not validate: rebuild it from {}
                        overrides[fname] = (new, Field(default_factory=dict, description=field.description))
            if not overrides:
                out = model
            else:
                out = create_model(model.__name__, __base__=model, __module__=model.__module__, **overrides)
                out.__doc__ = model.__doc__
        finally:
            self._in_progress.discard(model)
        self._resolved[model] = out
        return out


class _Never1(ComponentConfig):
    name: Literal["\x00never1"] = "\x00never1"


class _Never2(ComponentConfig):
    name: Literal["\x00never2"] = "\x00never2"


_NEVER = (Annotated[_Never1, Tag("\x00never1")], Annotated[_Never2, Tag("\x00never2")])


def _default_field(field: FieldInfo, name: str) -> FieldInfo:
    return Field(default_factory=lambda: {"name": name}, description=field.description)


def _copy_field(field: FieldInfo) -> FieldInfo:
    kwargs: dict[str, Any] = {"description": field.description}
    if field.default_factory is not None:
        kwargs["default_factory"] = field.default_factory
    elif not field.is_required():
        kwargs["default"] = field.default
    return Field(**kwargs)
