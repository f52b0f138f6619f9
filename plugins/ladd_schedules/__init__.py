"""Built-in noise schedules: ``linear``, ``loglinear``, ``cosine``, ``sqrt``, ``polynomial``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_classes

if TYPE_CHECKING:
    from ladd_core.components.schedules import Schedule
    from ladd_core.registry import Register


@hookimpl
def ladd_register_schedules(register: Register[type[Schedule]]) -> None:
    from ladd_schedules.schedules import (
        CosineSchedule,
        LinearSchedule,
        LogLinearSchedule,
        PolynomialSchedule,
        SqrtSchedule,
    )

    register_classes(register, LinearSchedule, LogLinearSchedule, CosineSchedule, SqrtSchedule, PolynomialSchedule)
