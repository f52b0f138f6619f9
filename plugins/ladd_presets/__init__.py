"""Built-in presets (``sawtooth-mdlm``, ``shakespeare-mdlm``, ``markov-mdlm``, ``mixture-mdlm``), the config defaults
the ``ladd bench`` plans and the ``ladd demo`` steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ladd_core import hookimpl

if TYPE_CHECKING:
    from ladd_core.evaluation.plan import BenchPlan, DemoStep
    from ladd_core.registry import Register


@hookimpl
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    from ladd_presets.presets import PRESETS

    for name, cfg in PRESETS.items():
        register(name, cfg)


@hookimpl
def ladd_register_config_defaults(register: Register[str]) -> None:
    """An MDLM on the sawtooth: the components a config gets for the fields it leaves out."""
    from ladd_presets.defaults import CONFIG_DEFAULTS

    for path, name in CONFIG_DEFAULTS.items():
        register(path, name)


@hookimpl
def ladd_register_bench_plans(register: Register[BenchPlan]) -> None:
    """MDLM vs Co-LADD vs Di-LADD on the sawtooth and on Shakespeare."""
    from ladd_presets.bench import BENCH_PLANS

    for dataset, plan in BENCH_PLANS.items():
        register(dataset, plan)


@hookimpl
def ladd_register_demo_steps(register: Register[DemoStep]) -> None:
    """The quick start: a sawtooth MDLM (exact quality) and a Shakespeare MDLM (text)."""
    from ladd_presets.demo import DEMO_STEPS

    for name, step in DEMO_STEPS.items():
        register(name, step)
