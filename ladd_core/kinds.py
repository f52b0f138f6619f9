"""The component kinds: registry name, hook, base class and constructor contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import Backbone
from ladd_core.components.data import DataSource
from ladd_core.components.encoders import Encoder
from ladd_core.components.latent_protocols import unbacked_claims
from ladd_core.components.latents import LatentChannel
from ladd_core.components.metrics import Metric
from ladd_core.components.objectives import Objective
from ladd_core.components.processes import TokenProcess
from ladd_core.components.samplers import Sampler
from ladd_core.components.schedules import Schedule
from ladd_core.components.tokenizers import Tokenizer
from ladd_core.config.base import ComponentConfig
from ladd_core.config.experiment import check_default
from ladd_core.config.schema import config_name_literal
from ladd_core.evaluation.plan import BenchPlan, DemoStep

__all__ = ["KINDS", "Kind", "check_component_class", "check_latent_class"]


@dataclass(frozen=True)
class Kind:
    """One component kind.

    Attributes:
        name: singular registry name (``"latent"``).
        hook: the registration hook (``"ladd_register_latents"``).
        base: the ABC its components subclass (``None`` for kinds holding data).
        description: the constructor contract, or what the data is.
        value_type: for data kinds (``base`` is ``None``), the type of the registered values.
        check: an extra check ``(name, value)`` raising ``TypeError`` (a data value, or a component class).
    """

    name: str
    hook: str
    base: type | None
    description: str
    value_type: type = dict
    check: Callable[[str, Any], None] | None = None

    @property
    def is_component(self) -> bool:
        """Whether entries are component classes with a ``Config`` (members of the config unions)."""
        return self.base is not None


def check_latent_class(name: str, cls: Any) -> None:
    """A latent channel class claims (class attribute ``capabilities``) no capability whose protocol it lacks."""
    problems = unbacked_claims(cls, getattr(cls, "capabilities", frozenset()))
    if problems:
        raise TypeError(f"latent {name!r}: {'; '.join(problems)}")


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("schedule", "ladd_register_schedules", Schedule, "Cls(config)"),
        Kind("token_process", "ladd_register_token_processes", TokenProcess, "Cls(config, schedule, vocab_size)"),
        Kind("encoder", "ladd_register_encoders", Encoder, "Cls(config, vocab_size, seq_len)"),
        Kind(
            "latent",
            "ladd_register_latents",
            LatentChannel,
            "Cls(config, **refs, [vocab_size], [seq_len])",
            check=check_latent_class,
        ),
        Kind("backbone", "ladd_register_backbones", Backbone, "Cls(config, spec)"),
        Kind("attention", "ladd_register_attention_backends", AttentionBackend, "Cls(config)"),
        Kind("objective", "ladd_register_objectives", Objective, "Cls(config)"),
        Kind("sampler", "ladd_register_samplers", Sampler, "Cls(config)"),
        Kind("tokenizer", "ladd_register_tokenizers", Tokenizer, "Cls(config)"),
        Kind("data", "ladd_register_data_sources", DataSource, "Cls(config, seed, work_dir, **refs)"),
        Kind("metric", "ladd_register_metrics", Metric, "Cls(config)"),
        Kind("preset", "ladd_register_presets", None, "a config dict"),
        Kind("default", "ladd_register_config_defaults", None, "component name", str, check_default),
        Kind("bench_plan", "ladd_register_bench_plans", None, "a BenchPlan", BenchPlan),
        Kind("demo_step", "ladd_register_demo_steps", None, "a DemoStep", DemoStep),
    )
}


def check_component_class(kind: Kind) -> Any:
    """A registry validator: the class subclasses the kind's ABC and its ``Config.name`` is ``Literal[name]``."""

    def validate(name: str, obj: Any) -> None:
        if kind.base is None:
            if not isinstance(obj, kind.value_type):
                raise TypeError(f"{kind.name} {name!r} must be a {kind.value_type.__name__}, got {type(obj).__name__}")
            if kind.check is not None:
                kind.check(name, obj)
            return
        if not (isinstance(obj, type) and issubclass(obj, kind.base)):
            raise TypeError(f"{kind.name} {name!r} must be a subclass of {kind.base.__name__}, got {obj!r}")
        cfg = getattr(obj, "Config", None)
        if not (isinstance(cfg, type) and issubclass(cfg, ComponentConfig)):
            raise TypeError(f"{kind.name} {name!r}: {obj.__name__}.Config must subclass ComponentConfig")
        lit = config_name_literal(cfg)
        if lit != name:
            raise TypeError(
                f"{kind.name} {name!r}: {obj.__name__}.Config.name must be Literal[{name!r}], "
                f"found {cfg.model_fields['name'].annotation!r}"
            )
        if kind.check is not None:
            kind.check(name, obj)

    return validate
