"""The registered schedules the property tests range over, and a strategy for one's config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from ladd_core.config.base import ComponentConfig
from ladd_core.plugins import get_components
from ladd_core.testing.strategies import configs
from ladd_core.testing.toys import config_model

COMPS = get_components()
SCHEDULES = COMPS.registry("schedule").list()


@st.composite
def schedule_configs(
    draw: st.DrawFn,
    drawn: Mapping[str, st.SearchStrategy[Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> ComponentConfig:
    """The config of a registered schedule, drawn from its ``Config``.

    Of the fields the schedule has, those in ``drawn`` come from the given strategy and those in ``fixed``
    hold the given value (fields a schedule lacks are ignored: ``power`` only narrows ``polynomial``).
    """
    name = draw(st.sampled_from(SCHEDULES))
    cls = COMPS.get("schedule", name).Config
    held = {f: draw(s) for f, s in (drawn or {}).items() if f in cls.model_fields}
    held.update({f: v for f, v in (fixed or {}).items() if f in cls.model_fields})
    return draw(configs(cls, fixed=held, model=config_model(COMPS, "schedule", name)))
