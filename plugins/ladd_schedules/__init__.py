"""Built-in noise schedules: ``linear``, ``loglinear``, ``cosine``, ``sqrt``, ``polynomial``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core import hookimpl
from ladd_core.registry import register_targets

if TYPE_CHECKING:
    from ladd_core.components.schedules import Schedule
    from ladd_core.registry import Register


@hookimpl
def ladd_register_schedules(register: Register[type[Schedule]]) -> None:
    register_targets(
        register,
        {
            "linear": "ladd_schedules.schedules:LinearSchedule",
            "loglinear": "ladd_schedules.schedules:LogLinearSchedule",
            "cosine": "ladd_schedules.schedules:CosineSchedule",
            "sqrt": "ladd_schedules.schedules:SqrtSchedule",
            "polynomial": "ladd_schedules.schedules:PolynomialSchedule",
        },
    )
