"""Built-in noise schedules: ``linear``, ``loglinear``, ``cosine``, ``sqrt``, ``polynomial``."""

from __future__ import annotations

from typing import Any

from ladd_core import hookimpl


@hookimpl
def ladd_register_schedules(register: Any) -> None:
    from ladd_schedules.schedules import (
        CosineSchedule,
        LinearSchedule,
        LogLinearSchedule,
        PolynomialSchedule,
        SqrtSchedule,
    )

    register("linear", LinearSchedule)
    register("loglinear", LogLinearSchedule)
    register("cosine", CosineSchedule)
    register("sqrt", SqrtSchedule)
    register("polynomial", PolynomialSchedule)
