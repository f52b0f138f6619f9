"""The experiment config: which components, with which settings, trained how."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from ladd_core.config.base import ComponentConfig, ConfigBase, Ref, ref
from ladd_core.config.errors import ConfigError, format_validation_error
from ladd_core.config.schema import SchemaBuilder

if TYPE_CHECKING:
    from ladd_core.plugins import Components

__all__ = [
    "ExperimentConfig",
    "ModelConfig",
    "TrainConfig",
    "build_experiment_model",
    "model_capabilities",
    "validate_config",
]


FLOAT32_MAX = 3.4028234663852886e38
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
DEVICE = re.compile(r"auto|cpu|mps|xpu|cuda(:\d+)?|xpu:\d+")


class ModelConfig(ConfigBase):
    """The model: token process, latent channel and networks."""

    token_process: Annotated[ComponentConfig, Ref("token_process")] = ref("token_process", "masked")
    latent: Annotated[ComponentConfig, Ref("latent")] = ref("latent", "none")
    backbone: Annotated[ComponentConfig, Ref("backbone")] = ref("backbone", "dit")
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
    threads: int = Field(0, ge=0, description="torch CPU threads (0 = leave default)")
    compile: bool = Field(False, description="torch.compile the backbones (slow first steps; checkpoints unchanged)")
    fsdp: bool = Field(False, description="shard parameters with FSDP2 (needs torchrun); else DDP when distributed")

    @field_validator("stages")
    @classmethod
    def _stages_increase(cls, v: list[int]) -> list[int]:
        if not v or v[0] != 0 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"stages must start at 0 and strictly increase, got {v}")
        return v

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
    model: ModelConfig = Field(default_factory=ModelConfig)
    objective: Annotated[ComponentConfig, Ref("objective")] = ref("objective", "masked-ce")
    data: Annotated[ComponentConfig, Ref("data")] = ref("data", "sawtooth")
    sampler: Annotated[ComponentConfig, Ref("sampler")] = ref("sampler", "ancestral")
    train: TrainConfig = Field(default_factory=TrainConfig)


def build_experiment_model(components: Components) -> type[ExperimentConfig]:
    """The experiment config model with discriminated unions over ``components``."""
    configs = {k: [cls.Config for _, cls in reg.items()] for k, reg in components.registries.items() if k != "preset"}
    return SchemaBuilder(configs).resolve(ExperimentConfig)  # type: ignore[return-value]


def model_capabilities(cfg: ExperimentConfig, components: Components) -> frozenset[str]:
    """Capabilities of the model ``cfg`` describes (latent channel + networks), from configs alone."""
    latent_cls = components.get("latent", cfg.model.latent.name)
    has_den = cfg.model.latent_denoiser is not None
    caps = set(latent_cls.capabilities_for(cfg.model.latent, has_latent_denoiser=has_den))
    caps |= components.get("backbone", cfg.model.backbone.name).capabilities
    if has_den:
        caps.add("latent_denoiser")
    return frozenset(caps)


def _check_backbone(cfg: ExperimentConfig, components: Components) -> list[tuple[str, str]]:
    latent_cls = components.get("latent", cfg.model.latent.name)
    backbones = components.registry("backbone")
    problems = []
    checks = [("model.backbone", cfg.model.backbone, latent_cls.backbone_requires)]
    if cfg.model.latent_denoiser is not None:
        checks.append(("model.latent_denoiser", cfg.model.latent_denoiser, latent_cls.latent_denoiser_requires))
    for path, net, needed in checks:
        missing = needed - backbones.get(net.name).capabilities
        if missing:
            ok = [n for n, cls in backbones.items() if needed <= cls.capabilities]
            problems.append(
                (
                    f"{path}.name",
                    f"latent {cfg.model.latent.name!r} needs a network with {sorted(missing)} here. "
                    f"Compatible backbones: {', '.join(ok) or '(none)'}.",
                )
            )
    return problems


def _check_sampler(cfg: ExperimentConfig, components: Components) -> list[tuple[str, str]]:
    caps = model_capabilities(cfg, components)
    samplers = components.registry("sampler")
    needed = samplers.get(cfg.sampler.name).requires
    if needed <= caps:
        return []
    ok = [n for n, cls in samplers.items() if cls.requires <= caps]
    return [
        (
            "sampler.name",
            f"sampler {cfg.sampler.name!r} needs {sorted(needed - caps)} which this model "
            f"(latent {cfg.model.latent.name!r}) lacks. Compatible samplers: {', '.join(ok) or '(none)'}.",
        )
    ]


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
    problems = _check_backbone(cfg, components) + _check_sampler(cfg, components) + _check_stages(cfg)
    if problems:
        raise ConfigError(problems, source)
    return cfg
