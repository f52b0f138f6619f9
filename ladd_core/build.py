"""The one place where names become objects.

Every component is constructed here from its validated config: nested
component configs (fields declared with :class:`~ladd_core.config.base.Ref`)
are built first and injected by field name, then context values
(``vocab_size``, ``seq_len``, ``spec`` ...) are passed to the constructor when
its signature asks for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ladd_core.components.backbones import BackboneSpec
from ladd_core.components.data import DataSource
from ladd_core.config.base import ComponentConfig
from ladd_core.config.capabilities import model_capabilities
from ladd_core.config.experiment import ExperimentConfig
from ladd_core.config.schema import ref_marker
from ladd_core.model import LaddModel
from ladd_core.plugins import Components

__all__ = ["build_component", "build_data", "build_model", "build_sampler"]


def _accepts(fn: Any) -> tuple[set[str], bool]:
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return names, var_kw


def build_component(components: Components, kind: str, config: ComponentConfig, **context: Any) -> Any:
    """Construct the ``kind`` component that ``config`` names.

    Args:
        components: the registries.
        kind: the registry kind.
        config: a validated config (its ``name`` selects the class).
        context: values the constructor may ask for by parameter name.
    """
    cls = components.get(kind, config.name)
    kwargs: dict[str, Any] = {}
    for fname, field in cls.Config.model_fields.items():
        marker, _ = ref_marker(field)
        if marker is None:
            continue
        sub = getattr(config, fname)
        kwargs[fname] = None if sub is None else build_component(components, marker.kind, sub, **context)
    names, var_kw = _accepts(cls.__init__)
    for key, value in context.items():
        if (var_kw or key in names) and key not in kwargs:
            kwargs[key] = value
    return cls(config, **kwargs)


def build_data(cfg: ExperimentConfig, components: Components, work_dir: Path) -> DataSource:
    """The experiment's data source (its tokenizer is fitted or loaded in ``work_dir``)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return build_component(components, "data", cfg.data, seed=cfg.seed, work_dir=work_dir)


def build_model(
    cfg: ExperimentConfig,
    components: Components,
    *,
    vocab_size: int,
    seq_len: int,
    detokenize: Callable[[list[int]], str] | None = None,
    forbidden_ids: Iterable[int] = (),
) -> LaddModel:
    """Assemble token process, latent channel, networks and objective into a :class:`LaddModel`.

    ``detokenize`` (ids -> text) is offered to components that ask for it, such as
    frozen text encoders that re-tokenise.  ``forbidden_ids`` (the tokenizer's
    ``non_data_ids``) are ids the model's samplers never emit.
    """
    ctx: dict[str, Any] = {"vocab_size": vocab_size, "seq_len": seq_len, "detokenize": detokenize}
    process = build_component(components, "token_process", cfg.model.token_process, **ctx)
    latent = build_component(components, "latent", cfg.model.latent, **ctx)
    spec = BackboneSpec(
        num_classes=process.num_classes,
        seq_len=seq_len,
        num_slots=latent.num_slots,
        latent_in_dim=latent.input_dim,
        latent_out_dim=latent.output_dim,
    )
    backbone = build_component(components, "backbone", cfg.model.backbone, spec=spec)
    denoiser = None
    if cfg.model.latent_denoiser is not None:
        denoiser = build_component(components, "backbone", cfg.model.latent_denoiser, spec=spec)
    objective = build_component(components, "objective", cfg.objective)
    return LaddModel(
        process=process,
        latent=latent,
        backbone=backbone,
        objective=objective,
        latent_denoiser=denoiser,
        seq_len=seq_len,
        capabilities=model_capabilities(cfg, components),
        forbidden_ids=forbidden_ids,
    )


def build_sampler(components: Components, config: ComponentConfig) -> Any:
    """The sampler ``config`` names."""
    return build_component(components, "sampler", config)
