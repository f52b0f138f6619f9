"""Hypothesis strategies for ladd components, and the ``dev`` / ``ci`` / ``thorough`` profiles.

Import this module explicitly (it imports :mod:`hypothesis`); nothing else in
:mod:`ladd_core.testing` does at import time.

Config strategies are derived from a component's pydantic ``Config``: every field
with a ``Literal``, ``bool``, ``int`` or ``float`` type is drawn within its
``ge``/``gt``/``le``/``lt`` constraints (a side without a bound is capped near the
default, so drawn models stay tiny); ``str`` fields and ``Ref`` fields (nested
component configs) keep their defaults unless given in ``fixed``.  Draws that a
model validator rejects are filtered out.  A component takes over by defining a
classmethod ``Config.strategy()`` returning a strategy of configs (or of dicts).

Array strategies are named after their shapes (``tokens_BL``, ``times_B``), and
every random tensor is made from a drawn ``seed`` feeding a :class:`torch.Generator`,
so a failing example prints the seed that replays it.
"""

from __future__ import annotations

import math
import os
import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from ladd_core.config.base import ComponentConfig
from ladd_core.config.schema import ref_marker

__all__ = [
    "PROFILES",
    "config_dicts",
    "configs",
    "field_strategy",
    "generator_from",
    "invalid_field_values",
    "latent_dims",
    "lengths",
    "load_profile",
    "register_profiles",
    "seeds",
    "times_B",
    "tokens_BL",
    "vocab_sizes",
]

INT_SPAN = 8
"""How far above its lower bound (or default) an int field without an upper bound is drawn."""
FLOAT_SPAN = 4.0
"""Width of the range drawn for a float field with at most one bound."""

# -- profiles -----------------------------------------------------------------------------

_COMMON: dict[str, Any] = {
    "deadline": None,  # torch warm-up makes first calls slow; timing is not a property
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
    "print_blob": True,
}
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"max_examples": 6, "derandomize": True, "database": None, **_COMMON},
    "dev": {"max_examples": 25, **_COMMON},
    "thorough": {"max_examples": 300, **_COMMON},
}
"""``ci``: few, derandomised examples (the fast suite); ``dev``: local runs; ``thorough``: the nox session."""


def register_profiles() -> None:
    """Register the ``ci``, ``dev`` and ``thorough`` hypothesis profiles (idempotent)."""
    for name, kwargs in PROFILES.items():
        settings.register_profile(name, **kwargs)


def load_profile(default: str = "ci") -> str:
    """Register the profiles and load the one named by ``HYPOTHESIS_PROFILE`` (default ``ci``); returns its name."""
    register_profiles()
    name = os.environ.get("HYPOTHESIS_PROFILE", default)
    settings.load_profile(name)
    return name


# -- shape-named value strategies ---------------------------------------------------------


def seeds() -> st.SearchStrategy[int]:
    """Seeds for :func:`generator_from` (``0 .. 2**32 - 1``)."""
    return st.integers(0, 2**32 - 1)


def generator_from(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A :class:`torch.Generator` seeded with ``seed`` (draw the seed, not the generator, so failures replay)."""
    return torch.Generator(device=device).manual_seed(seed)


def vocab_sizes(max_value: int = 3) -> st.SearchStrategy[int]:
    """Data vocabulary sizes ``1 .. max_value`` (enumerable spaces stay tiny)."""
    return st.integers(1, max_value)


def lengths(max_value: int = 3) -> st.SearchStrategy[int]:
    """Sequence lengths ``1 .. max_value``."""
    return st.integers(1, max_value)


def latent_dims(max_value: int = 4) -> st.SearchStrategy[int]:
    """Latent slot widths ``1 .. max_value``."""
    return st.integers(1, max_value)


def times_B(batch: int, t_min: float = 1e-4, t_max: float = 1.0) -> st.SearchStrategy[torch.Tensor]:
    """Times ``(B,)`` float64 in ``[t_min, t_max]`` (endpoints included often)."""
    t = st.one_of(st.just(t_min), st.just(t_max), st.floats(t_min, t_max, allow_nan=False))
    return st.lists(t, min_size=batch, max_size=batch).map(lambda v: torch.tensor(v, dtype=torch.float64))


def tokens_BL(vocab: int, batch: int, length: int) -> st.SearchStrategy[torch.Tensor]:
    """Token ids ``(B, L)`` long in ``[0, vocab)``, made from a drawn seed."""
    return seeds().map(lambda s: torch.randint(0, vocab, (batch, length), generator=generator_from(s)))


# -- config strategies --------------------------------------------------------------------


def _bounds(field: FieldInfo) -> tuple[float | None, float | None, bool, bool]:
    """``(lo, hi, lo_excluded, hi_excluded)`` from a field's annotated-types metadata."""
    lo = hi = None
    lo_x = hi_x = False
    for m in field.metadata:
        if isinstance(m, at.Ge):
            lo, lo_x = m.ge, False
        elif isinstance(m, at.Gt):
            lo, lo_x = m.gt, True
        elif isinstance(m, at.Le):
            hi, hi_x = m.le, False
        elif isinstance(m, at.Lt):
            hi, hi_x = m.lt, True
    return lo, hi, lo_x, hi_x


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.is_required() else field.default


def _int_strategy(field: FieldInfo) -> st.SearchStrategy[int]:
    lo, hi, lo_x, hi_x = _bounds(field)
    default = _default(field)
    anchor = default if isinstance(default, int) and not isinstance(default, bool) else 0
    lo_i = None if lo is None else math.floor(lo) + (1 if lo_x and float(lo).is_integer() else 0)
    hi_i = None if hi is None else math.ceil(hi) - (1 if hi_x and float(hi).is_integer() else 0)
    if lo_i is None and hi_i is None:
        lo_i, hi_i = anchor - INT_SPAN // 2, anchor + INT_SPAN // 2
    elif hi_i is None:
        hi_i = max(lo_i, min(anchor, lo_i + INT_SPAN)) + INT_SPAN  # type: ignore[type-var]
    elif lo_i is None:
        lo_i = hi_i - 2 * INT_SPAN
    return st.integers(lo_i, hi_i)


def _float_strategy(field: FieldInfo) -> st.SearchStrategy[float]:
    lo, hi, lo_x, hi_x = _bounds(field)
    default = _default(field)
    anchor = float(default) if isinstance(default, int | float) and not isinstance(default, bool) else 0.0
    if lo is None and hi is None:
        lo, hi = anchor - FLOAT_SPAN / 2, anchor + FLOAT_SPAN / 2
    elif hi is None:
        hi = max(float(lo), anchor) + FLOAT_SPAN  # type: ignore[arg-type]
    elif lo is None:
        lo = min(float(hi), anchor) - FLOAT_SPAN
    return st.floats(
        float(lo), float(hi), exclude_min=lo_x, exclude_max=hi_x, allow_nan=False, allow_infinity=False, width=64
    )


def field_strategy(field: FieldInfo, annotation: Any = None) -> st.SearchStrategy[Any] | None:
    """A strategy for one config field, or ``None`` to keep its default (``str``, ``Ref`` and other types)."""
    ann = field.annotation if annotation is None else annotation
    origin = get_origin(ann)
    if origin is Literal:
        return st.sampled_from(get_args(ann))
    if origin in (Union, types.UnionType):
        args = get_args(ann)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            sub = field_strategy(field, inner[0])
            if sub is None:
                return None
            return st.none() | sub if type(None) in args else sub
        return None
    if ann is bool:
        return st.booleans()
    if ann is int:
        return _int_strategy(field)
    if ann is float:
        return _float_strategy(field)
    return None


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def config_dicts(
    config_cls: type[ComponentConfig],
    *,
    fixed: dict[str, Any] | None = None,
    draw: Callable[[str], bool] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts for ``config_cls`` (``name`` included): drawn fields merged with ``fixed``.

    Args:
        config_cls: a component ``Config`` class.
        fixed: values that are not drawn (``Ref`` fields go here, as dicts).
        draw: predicate on field names; only fields it accepts are drawn (default: all drawable ones).
    """
    fixed = dict(fixed or {})
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for fname, field in config_cls.model_fields.items():
        if fname == "name" or fname in fixed:
            continue
        strat = None if ref_marker(field)[0] is not None else field_strategy(field)
        if field.is_required() and strat is None:
            raise ValueError(
                f"{config_cls.__qualname__}.{fname} is required and cannot be drawn: pass fixed={{{fname!r}: ...}} "
                "or give the config a strategy() classmethod"
            )
        if strat is not None and (draw is None or draw(fname)):
            parts[fname] = strat
    name = config_cls.model_fields["name"].default
    return st.fixed_dictionaries(parts).map(lambda d: {"name": name, **d, **fixed})


def configs(
    config_cls: type[ComponentConfig],
    *,
    fixed: dict[str, Any] | None = None,
    model: type[BaseModel] | None = None,
    draw: Callable[[str], bool] | None = None,
) -> st.SearchStrategy[Any]:
    """Valid config instances of ``config_cls``.

    Uses ``config_cls.strategy()`` when the class defines it (its draws are then
    updated with ``fixed``); otherwise :func:`config_dicts`.  Draws are validated
    with ``model`` (default ``config_cls``; pass a resolved model, e.g. from
    :func:`ladd_core.testing.contracts.config_model`, when ``fixed`` holds nested
    ``Ref`` dicts) and draws that fail validation are filtered out.
    """
    model = model or config_cls
    own = getattr(config_cls, "strategy", None)
    if callable(own):
        base: st.SearchStrategy[Any] = own()
        dicts = base.map(lambda c: {**(c.model_dump() if isinstance(c, BaseModel) else dict(c)), **(fixed or {})})
    else:
        dicts = config_dicts(config_cls, fixed=fixed, draw=draw)
    return dicts.map(lambda d: _validated(model, d)).filter(lambda c: c is not None)


def invalid_field_values(config_cls: type[ComponentConfig]) -> list[tuple[str, Any]]:
    """``(field, value)`` pairs that violate a field's own constraints (each must make validation fail).

    For every bounded numeric field: a value just past each bound and ``nan``; for
    every ``Literal`` field: a string outside the choices.  (Infinity is not listed:
    it satisfies one-sided bounds such as ``gt=0``.)
    """
    out: list[tuple[str, Any]] = []
    for fname, field in config_cls.model_fields.items():
        if fname == "name":
            continue
        ann = field.annotation
        if get_origin(ann) in (Union, types.UnionType):
            inner = [a for a in get_args(ann) if a is not type(None)]
            ann = inner[0] if len(inner) == 1 else None
        if get_origin(ann) is Literal:
            out.append((fname, "\x00not-a-choice"))
            continue
        if ann not in (int, float):
            continue
        lo, hi, lo_x, hi_x = _bounds(field)
        if lo is None and hi is None:
            continue
        step = 1 if ann is int else max(1e-6, 1e-6 * abs(float(lo if lo is not None else hi)))  # type: ignore[arg-type]
        if lo is not None:
            out.append((fname, lo if lo_x else lo - step))
        if hi is not None:
            out.append((fname, hi if hi_x else hi + step))
        if ann is float:
            out.append((fname, float("nan")))
    return out
