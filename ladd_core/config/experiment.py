"""The experiment config: which components, with which settings, trained how."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ladd_core.config.base import ComponentConfig, ConfigBase, Ref, ref
from ladd_core.config.capabilities import check_capabilities, model_capabilities
from ladd_core.config.errors import ConfigError, format_validation_error
from ladd_core.config.schema import SchemaBuilder, ref_marker

if TYPE_CHECKING:
    from ladd_core.plugins import Components

__all__ = [
    "ExperimentConfig",
    "ModelConfig",
    "TrainConfig",
    "build_experiment_model",
    "check_default",
    "component_fields",
    "model_capabilities",
    "validate_config",
]


FLOAT32_MAX = 3.4028234663852886e38
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
DEVICE = re.compile(r"auto|cpu|mps|xpu|cuda(:\d+)?|xpu:\d+")
_PLUGIN_DEFAULT: Any = Field(description="defaults to the name a plug-in registers with ladd_register_config_defaults")
"""A component field without a default in the core: plug-ins name it (the core knows no component by name)."""


class ModelConfig(ConfigBase):
    """The model: token process, latent channel and networks."""

    token_process: Annotated[ComponentConfig, Ref("token_process")] = _PLUGIN_DEFAULT
    latent: Annotated[ComponentConfig, Ref("latent")] = _PLUGIN_DEFAULT
    backbone: Annotated[ComponentConfig, Ref("backbone")] = _PLUGIN_DEFAULT
    latent_denoiser: Annotated[ComponentConfig, Ref("backbone")] | None = ref(
        "backbone", None, description="separate latent-only denoiser (sequential Co-LADD)"
    )


class TrainConfig(ConfigBase):
    """Optimisation and bookkeeping."""

    batch_size: int = Field(
        64, ge=1, description="global batch per optimiser step (split over processes, then micro-batches)"
    )
    micro_batch_size: int = Field(
        0, ge=0, description="rows per forward/backward on each process (0 = its whole share; else grad accumulation)"
    )
    max_steps: int = Field(1000, ge=0)
    lr: float = Field(1e-3, gt=0, le=FLOAT32_MAX, allow_inf_nan=False, description="peak learning rate (float32 range)")
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0, le=FLOAT32_MAX, allow_inf_nan=False)
    warmup_steps: int = Field(100, ge=0, description="linear LR warm-up, then constant (or decayed, lr_decay)")
    lr_decay: Literal["none", "cosine"] = Field(
        "none", description="after the warm-up: constant, or a cosine down to min_lr_ratio * lr at max_steps"
    )
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final LR / lr of the cosine decay")
    lr_scale: dict[str, Annotated[float, Field(ge=0, le=1e3, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="LR multipliers by parameter-name prefix, e.g. {'latent.encoder': 0.3}: the longest "
        "prefix that matches a parameter's name (LaddModel.named_parameters) scales its LR, warm-up and decay "
        "included; every prefix must match a parameter",
    )
    optimizer: Literal["adamw", "muon"] = Field(
        "adamw",
        description="'adamw'; or 'muon': Muon (orthogonalised Nesterov momentum) for the weight matrices of the "
        "linear layers not matched by muon_exclude, AdamW (lr, betas, weight_decay) for every other parameter",
    )
    muon_lr: float = Field(
        0.01,
        gt=0,
        le=FLOAT32_MAX,
        allow_inf_nan=False,
        description="peak LR of the Muon matrices, on AdamW's scale (updates are rescaled to AdamW's typical "
        "RMS); warm-up, decay and lr_scale apply as to lr",
    )
    muon_exclude: list[str] = Field(
        default_factory=lambda: ["*embed*", "*final*", "*head*", "*ada_ln*"],
        description="fnmatch patterns of parameter names kept on AdamW although they are linear-layer "
        "matrices: input embeddings, output heads, conditioning (adaLN) layers",
    )
    grad_clip: float = Field(1.0, ge=0, allow_inf_nan=False, description="max global grad norm (0 = off)")
    ema: float = Field(0.99, ge=0, lt=1, description="EMA decay of the weights used to sample/evaluate (0 = off)")
    stages: list[int] = Field(default_factory=lambda: [0], description="steps at which each training stage starts")
    log_every: int = Field(50, ge=1)
    health_after: int | None = Field(
        None,
        ge=0,
        description="step from which a collapsed or useless latent is reported as a warning "
        "(None = 40 % of max_steps); the latent's health is logged every log_every steps from the start",
    )
    eval_every: int = Field(0, ge=0, description="validation NELBO every N steps (0 = only at the end)")
    eval_batches: int = Field(4, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    precision: Literal["fp32", "bf16"] = "fp32"
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:0' or 'auto'")
    threads: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        "auto",
        description="torch CPU threads: 'auto' = the cores other processes leave free, re-checked every few "
        "seconds (docs/reliability.md); N = exactly N; 0 = leave torch's default",
    )
    compile: bool = Field(False, description="torch.compile the backbones (slow first steps; checkpoints unchanged)")
    fsdp: bool = Field(False, description="shard parameters with FSDP2 (needs torchrun); else DDP when distributed")

    @field_validator("stages")
    @classmethod
    def _stages_increase(cls, v: list[int]) -> list[int]:
        if not v or v[0] != 0 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"stages must start at 0 and strictly increase, got {v}")
        return v

    @model_validator(mode="after")
    def _muon_not_sharded(self) -> TrainConfig:
        if self.optimizer == "muon" and self.fsdp:
            raise ValueError(
                "optimizer 'muon' orthogonalises whole weight matrices and cannot run on FSDP shards; "
                "use fsdp=false (DDP) or optimizer='adamw'"
            )
        return self

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if not DEVICE.fullmatch(v):
            raise ValueError(f"unknown device {v!r}; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
        return v


class ExperimentConfig(ConfigBase):
    """A whole experiment; the top-level config file."""

    name: str = "experiment"
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63, description="experiment seed (0 <= seed < 2**63, as torch needs)")
    model: ModelConfig = Field(default_factory=dict)  # type: ignore[arg-type]  # validated into ModelConfig
    objective: Annotated[ComponentConfig, Ref("objective")] = _PLUGIN_DEFAULT
    data: Annotated[ComponentConfig, Ref("data")] = _PLUGIN_DEFAULT
    sampler: Annotated[ComponentConfig, Ref("sampler")] = _PLUGIN_DEFAULT
    train: TrainConfig = Field(default_factory=TrainConfig)


def component_fields(model: type[BaseModel] = ExperimentConfig, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(field path, kind)`` of every component field (a ``Ref``) of the experiment config, sections included."""
    for fname, field in model.model_fields.items():
        marker, _ = ref_marker(field)
        if marker is not None:
            yield f"{prefix}{fname}", marker.kind
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from component_fields(field.annotation, f"{prefix}{fname}.")


def check_default(path: str, name: object) -> None:
    """Validator of the ``default`` registry: ``path`` is a component field and ``name`` a component name.

    Raises:
        TypeError: naming the known field paths.
    """
    paths = dict(component_fields())
    if path not in paths:
        raise TypeError(f"default {path!r}: not a component field of the experiment config; fields: {', '.join(paths)}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"default {path!r} must be a component name (a non-empty string), got {name!r}")


def build_experiment_model(
    configs: Mapping[str, list[type[ComponentConfig]]], defaults: Mapping[str, str]
) -> type[ExperimentConfig]:
    """The experiment config model with discriminated unions over the registered component configs.

    Args:
        configs: kind -> the ``Config`` classes registered for it.
        defaults: component field path (``"data"``, ``"model.backbone"``) -> the
            component name used when a config leaves the field out (plug-ins
            register them with ``ladd_register_config_defaults``); a field with
            no default is required.
    """
    owners = _field_owners()
    by_field = {owners[path]: name for path, name in defaults.items()}
    return SchemaBuilder(dict(configs), by_field).resolve(ExperimentConfig)  # type: ignore[return-value]


def _field_owners(
    model: type[BaseModel] = ExperimentConfig, prefix: str = ""
) -> dict[str, tuple[type[BaseModel], str]]:
    """Field path -> ``(model class, field name)`` holding it."""
    out: dict[str, tuple[type[BaseModel], str]] = {}
    for fname, field in model.model_fields.items():
        if ref_marker(field)[0] is not None:
            out[f"{prefix}{fname}"] = (model, fname)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out.update(_field_owners(field.annotation, f"{prefix}{fname}."))
    return out


def _check_stages(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    stages = cfg.train.stages
    if len(stages) > 1 and not hasattr(cfg.model.latent, "two_stage"):
        return [
            (
                "train.stages",
                f"latent {cfg.model.latent.name!r} trains in one stage; {stages} would only rebuild the optimizer "
                "(use [0])",
            )
        ]
    return []


def validate_config(data: dict[str, Any], components: Components, source: str | None = None) -> ExperimentConfig:
    """Validate a config dict into the resolved :class:`ExperimentConfig`.

    Raises:
        ConfigError: with every problem and its field path.
    """
    model = components.config_model
    try:
        cfg = model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, data, source) from None
    problems = check_capabilities(cfg, components) + _check_stages(cfg)
    if problems:
        raise ConfigError(problems, source)
    return cfg
