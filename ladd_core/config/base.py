"""Pydantic base classes for every config in ladd.

Each component class owns a nested ``Config`` that subclasses
:class:`ComponentConfig` and pins ``name`` to a ``Literal`` equal to its
registered name.  A field that holds *another* component's config is declared
with :func:`ref`; the concrete discriminated union behind it is only built
after plug-in discovery (:mod:`ladd_core.config.schema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ComponentConfig", "ConfigBase", "Ref", "ref"]


class ConfigBase(BaseModel):
    """Strict, immutable config: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


class ComponentConfig(ConfigBase):
    """Base of every component's ``Config``; ``name`` selects the component."""

    name: str


@dataclass(frozen=True)
class Ref:
    """Marks a field as 'a config of component kind ``kind``'.

    Attributes:
        kind: registry kind, e.g. ``"schedule"``.
    """

    kind: str


def ref(kind: str, default: str | dict[str, Any] | None = None, *, description: str = "") -> Any:
    """A field holding the config of a component of ``kind``.

    Args:
        kind: the registry kind (``"schedule"``, ``"backbone"``, ...).
        default: a registered name or a config dict used when the field is
            omitted; ``None`` makes the field optional with default ``None``.
        description: text shown in the JSON schema.

    Use it with an annotation that carries the :class:`Ref` marker, e.g.::

        schedule: Annotated[ComponentConfig, Ref("schedule")] = ref("schedule", "linear")
    """
    if default is None:
        return Field(default=None, description=description)
    value = {"name": default} if isinstance(default, str) else dict(default)
    return Field(default_factory=lambda: dict(value), description=description)
