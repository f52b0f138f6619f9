"""The component kinds: registry name, hook, base class and constructor contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ladd_core.components.attention import AttentionBackend
from ladd_core.components.backbones import Backbone
from ladd_core.components.data import DataSource
from ladd_core.components.encoders import Encoder
from ladd_core.components.latents import LatentChannel
from ladd_core.components.metrics import Metric
from ladd_core.components.objectives import Objective
from ladd_core.components.processes import TokenProcess
from ladd_core.components.samplers import Sampler
from ladd_core.components.schedules import Schedule
from ladd_core.components.tokenizers import Tokenizer
from ladd_core.config.base import ComponentConfig
from ladd_core.config.schema import config_name_literal

__all__ = ["KINDS", "Kind", "check_component_class"]


@dataclass(frozen=True)
class Kind:
    """One component kind.

    Attributes:
        name: singular registry name (``"latent"``).
        hook: the registration hook (``"ladd_register_latents"``).
        base: the ABC its components subclass (``None`` for presets).
        description: the constructor contract.
    """

    name: str
    hook: str
    base: type | None
    description: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("schedule", "ladd_register_schedules", Schedule, "Cls(config)"),
        Kind("token_process", "ladd_register_token_processes", TokenProcess, "Cls(config, schedule, vocab_size)"),
        Kind("encoder", "ladd_register_encoders", Encoder, "Cls(config, vocab_size, seq_len)"),
        Kind("latent", "ladd_register_latents", LatentChannel, "Cls(config, **refs, [vocab_size], [seq_len])"),
        Kind("backbone", "ladd_register_backbones", Backbone, "Cls(config, spec)"),
        Kind("attention", "ladd_register_attention_backends", AttentionBackend, "Cls(config)"),
        Kind("objective", "ladd_register_objectives", Objective, "Cls(config)"),
        Kind("sampler", "ladd_register_samplers", Sampler, "Cls(config)"),
        Kind("tokenizer", "ladd_register_tokenizers", Tokenizer, "Cls(config)"),
        Kind("data", "ladd_register_data_sources", DataSource, "Cls(config, seed, work_dir, **refs)"),
        Kind("metric", "ladd_register_metrics", Metric, "Cls(config)"),
        Kind("preset", "ladd_register_presets", None, "a config dict"),
    )
}


def check_component_class(kind: Kind) -> Any:
    """A registry validator: the class subclasses the kind's ABC and its ``Config.name`` is ``Literal[name]``."""

    def validate(name: str, obj: Any) -> None:
        if kind.base is None:
            if not isinstance(obj, dict):
                raise TypeError(f"{kind.name} {name!r} must be a dict, got {type(obj).__name__}")
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

    return validate
