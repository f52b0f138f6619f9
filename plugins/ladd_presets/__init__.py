"""Built-in presets (``sawtooth-mdlm``, ``shakespeare-mdlm``, ``markov-mdlm``, ``mixture-mdlm``), the config defaults
the ``ladd bench`` plans and the ``ladd demo`` steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladd_core import hookimpl
from ladd_core.registry import register_each

if TYPE_CHECKING:
    from ladd_core.evaluation.plan import BenchPlan, DemoStep
    from ladd_core.registry import Register


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    from ladd_presets.presets import PRESETS

    register_each(register, PRESETS)


@hookimpl
def ladd_register_config_defaults(register: Register[str]) -> None:
    """An MDLM on the sawtooth: the components a config gets for the fields it leaves out."""
    from ladd_presets.defaults import CONFIG_DEFAULTS

    register_each(register, CONFIG_DEFAULTS)


@hookimpl
def ladd_register_bench_plans(register: Register[BenchPlan]) -> None:
    """MDLM vs Co-LADD vs Di-LADD on the sawtooth and on Shakespeare."""
    from ladd_presets.bench import BENCH_PLANS

    register_each(register, BENCH_PLANS)


@hookimpl
def ladd_register_demo_steps(register: Register[DemoStep]) -> None:
    """The quick start: MDLM next to Co-LADD on the sawtooth (exact quality), then a Shakespeare MDLM (text)."""
    from ladd_presets.demo import DEMO_STEPS

    register_each(register, DEMO_STEPS)
