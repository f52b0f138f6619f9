"""Tiny configs, model builders and table oracles shared by the contracts and the property suite.

Nothing here imports :mod:`hypothesis` or :mod:`pytest`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, TypeAdapter
from torch import Tensor, nn

from ladd_core.build import build_component, build_model
from ladd_core.components.backbones import Backbone, BackboneConfig, BackboneOutput, BackboneSpec
from ladd_core.components.encoders import Encoder, EncoderConfig
from ladd_core.config.base import ComponentConfig
from ladd_core.config.capabilities import model_capabilities
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.config.schema import SchemaBuilder, ref_marker
from ladd_core.model import LaddModel
from ladd_core.plugins import Components, get_components, load_plugins
from ladd_core.testing.exact import MaskedSpace, expected_over_masks, tanh_sinh

__all__ = [
    "TINY",
    "TableDenoiser",
    "TableEncoder",
    "TinyModel",
    "build_kind",
    "build_tiny_model",
    "components_for",
    "config_model",
    "jiggle",
    "reported_token_nelbo",
    "table_model",
    "tiny_config",
    "tiny_model_data",
    "validate_component",
]

TINY: dict[str, dict[str, dict[str, Any]]] = {
    "backbone": {
        "dit": {"hidden": 8, "layers": 1, "heads": 2, "cond_dim": 8},
        "mmdit": {"hidden": 8, "layers": 1, "heads": 2, "cond_dim": 8},
        "latent-dit": {"hidden": 8, "layers": 1, "heads": 2, "cond_dim": 8},
    },
    "encoder": {
        "transformer": {"num_slots": 2, "dim": 4, "hidden": 8, "layers": 1, "heads": 2},
        "zero": {"num_slots": 2, "dim": 4, "hidden": 8, "layers": 1, "heads": 2},
        "minilm": {"num_slots": 2, "dim": 4},
    },
    "latent": {
        "vq": {"codebook_size": 4, "kmeans_iters": 1},
    },
}
"""Small settings of first-party components (kind -> name -> fields), used wherever a test needs one."""

_CACHE: dict[tuple[Any, ...], Components] = {}
_BUILDERS: dict[int, tuple[Components, SchemaBuilder]] = {}


def components_for(plugins: Sequence[tuple[str, object]] = (), use_entry_points: bool = True) -> Components:
    """Registries with the installed plug-ins (``use_entry_points``) plus ``plugins`` registered directly; cached."""
    if not plugins and use_entry_points:
        return get_components()
    key = (tuple((n, id(o)) for n, o in plugins), use_entry_points)
    if key not in _CACHE:
        _CACHE[key] = load_plugins(extra_plugins=list(plugins), use_entry_points=use_entry_points)
    return _CACHE[key]


def _builder(components: Components) -> SchemaBuilder:
    hit = _BUILDERS.get(id(components))
    if hit is None or hit[0] is not components:
        hit = (components, SchemaBuilder(components.component_configs()))
        _BUILDERS[id(components)] = hit
    return hit[1]


def config_model(components: Components, kind: str, name: str) -> type[BaseModel]:
    """The ``Config`` of component ``name`` with its ``Ref`` fields resolved against ``components``."""
    return _builder(components).resolve(components.get(kind, name).Config)


def validate_component(components: Components, kind: str, data: dict[str, Any]) -> ComponentConfig:
    """Validate a ``{"name": ..., ...}`` dict as a ``kind`` config (nested ``Ref`` dicts included)."""
    return TypeAdapter(_builder(components).union(kind)).validate_python(data)


def tiny_config(
    components: Components, kind: str, name: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"name": name, **TINY[kind][name], **overrides}`` with unset ``Ref`` fields replaced by tiny configs.

    A ``Ref`` field left at its default gets the :data:`TINY` settings of its default
    component (so a latent's default ``transformer`` encoder becomes a 1-layer, 8-wide one).
    """
    data: dict[str, Any] = {"name": name, **copy.deepcopy(TINY.get(kind, {}).get(name, {}))}
    data.update(copy.deepcopy(overrides or {}))
    cls = components.get(kind, name)
    for fname, field in cls.Config.model_fields.items():
        marker, _ = ref_marker(field)
        if marker is None or fname in data:
            continue
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        if isinstance(default, dict) and "name" in default and default["name"] in components.registry(marker.kind):
            data[fname] = tiny_config(components, marker.kind, default["name"], default)
    return data


def jiggle(module: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    """Add ``scale``-sized Gaussian noise to every parameter, so zero-initialised heads produce real outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return module


@dataclass
class TinyModel:
    """A built tiny model, its config and its capabilities."""

    cfg: ExperimentConfig
    model: LaddModel
    capabilities: frozenset[str]


def _first_backbone(components: Components, needs: frozenset[str]) -> str | None:
    names = components.registry("backbone").list()
    names.sort(key=lambda n: (n not in TINY["backbone"], n))  # prefer components with a known tiny size
    for n in names:
        if needs <= components.get("backbone", n).capabilities:
            return n
    return None


def tiny_model_data(
    components: Components,
    latent: dict[str, Any],
    *,
    with_denoiser: bool = False,
    backbone: dict[str, Any] | None = None,
    latent_denoiser: dict[str, Any] | None = None,
    objective: str = "nelbo",
) -> tuple[dict[str, Any], frozenset[str]]:
    """An experiment dict around ``latent`` and the capabilities of its model (validated, no build).

    The token backbone is the first registered one with ``"tokens"`` and the latent's
    ``backbone_requires`` (tiny sizes for first-party ones); with ``with_denoiser`` a
    ``"latent_only"`` backbone becomes ``model.latent_denoiser``.  The sampler is the first
    registered one the model satisfies.
    """
    latent_cls = components.get("latent", latent["name"])
    if backbone is None:
        bname = _first_backbone(components, frozenset({"tokens"}) | latent_cls.backbone_requires)
        if bname is None:
            raise LookupError(f"no registered backbone provides {sorted(latent_cls.backbone_requires | {'tokens'})}")
        backbone = tiny_config(components, "backbone", bname)
    if with_denoiser and latent_denoiser is None:
        dname = _first_backbone(components, frozenset({"latent_only"}))
        if dname is None:
            raise LookupError("no registered backbone provides 'latent_only'")
        latent_denoiser = tiny_config(components, "backbone", dname)
    model_section = {
        "token_process": {"name": "masked"},
        "latent": latent,
        "backbone": backbone,
        "latent_denoiser": latent_denoiser if with_denoiser else None,
    }
    data: dict[str, Any] = {"model": model_section, "objective": {"name": objective}}
    draft = components.config_model.model_validate(data)  # no capability checks yet
    caps = model_capabilities(draft, components)
    samplers = [n for n, cls in components.registry("sampler").items() if cls.requires <= caps]
    if not samplers:
        raise LookupError(f"no registered sampler accepts a model with capabilities {sorted(caps)}")
    data["sampler"] = {"name": samplers[0]}
    return data, caps


def build_tiny_model(
    components: Components,
    latent: dict[str, Any],
    *,
    vocab_size: int = 3,
    seq_len: int = 6,
    seed: int = 0,
    **options: Any,
) -> TinyModel:
    """Validate and build the model of :func:`tiny_model_data` (``options`` are passed to it); weights from ``seed``."""
    data, caps = tiny_model_data(components, latent, **options)
    cfg = validate_config(data, components, source="tiny model")
    torch.manual_seed(seed)
    model = build_model(cfg, components, vocab_size=vocab_size, seq_len=seq_len)
    return TinyModel(cfg, model, caps)


def build_kind(components: Components, kind: str, data: dict[str, Any], **context: Any) -> Any:
    """Validate ``data`` as a ``kind`` config and build it with ``context`` (``vocab_size``, ``spec`` ...)."""
    return build_component(components, kind, validate_component(components, kind, data), **context)


# -- table oracles on enumerable spaces -------------------------------------------------------


class TableDenoiser(Backbone):
    """A denoiser given by a table over an enumerable joint state space (an oracle, or a random "model").

    The joint state is ``L`` token positions followed by ``K`` latent positions
    (:class:`~ladd_core.testing.exact.MaskedSpace` order); ``table[s, p, v]`` is
    ``p(x_0^p = v | state s)``.  Token logits are ``log table`` over the data ids (the
    mask column is filled with ``-1e9``); latent logits (``"latent_stream"``) are
    ``log table`` over the code ids, read at the latent positions.

    Args:
        index: maps a ``(B, P)`` state to its row of ``table`` (``MaskedSpace.index``).
        table: ``(S, P, A)`` probabilities.
        num_tokens: ``L``.
        num_classes: token logit width (data ids + mask).
        decode_latents: maps the latent stream ``(B, K, d)`` back to ids ``(B, K)`` (mask = code count).
        code_count: ``C``, the latent logit width.
    """

    class Config(BackboneConfig):
        name: Literal["table"] = "table"

    capabilities: ClassVar[frozenset[str]] = frozenset({"tokens", "latent_stream"})

    def __init__(
        self,
        index: Callable[[Tensor], Tensor],
        table: Tensor,
        *,
        num_tokens: int,
        num_classes: int,
        decode_latents: Callable[[Tensor], Tensor] | None = None,
        code_count: int = 0,
    ) -> None:
        super().__init__(self.Config(), BackboneSpec(num_classes=num_classes, seq_len=num_tokens))
        self.index, self.decode_latents = index, decode_latents
        self.register_buffer("log_table", table.double().clamp_min(1e-300).log())
        self.num_tokens, self.code_count = num_tokens, code_count
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device
        self.calls = 0

    @property
    def time_conditioned(self) -> bool:
        return False

    def forward(self, tokens, latents, t_x, t_y, attention_mask=None) -> BackboneOutput:  # type: ignore[override]
        self.calls += 1
        state = tokens
        if latents is not None and self.decode_latents is not None:
            state = torch.cat([tokens, self.decode_latents(latents)], dim=1)  # (B, L + K)
        lp = self.log_table[self.index(state)]  # (B, P, A)
        b, length = tokens.shape
        logits = torch.full((b, length, self.spec.num_classes), -1e9, dtype=torch.float64, device=tokens.device)
        v = min(lp.shape[-1], self.spec.num_classes)
        logits[..., :v] = lp[:, :length, :v]
        latent_out = None
        if self.code_count:
            latent_out = lp[:, length:, : self.code_count].float()  # (B, K, C)
        return BackboneOutput(logits.float(), latent_out)


class TableEncoder(Encoder):
    """A deterministic encoder by table: ``x_0 -> vectors(codes[index(x_0)])`` of shape ``(B, K, d)``.

    Args:
        codes: ``(S0, K)`` ids per clean sequence (rows in :meth:`MaskedSpace.index` order of the tokens).
        index: maps ``x_0 (B, L)`` to row numbers of ``codes``.
        vectors: maps ids ``(B, K)`` to ``(B, K, d)`` (e.g. a VQ codebook lookup).
        dim: ``d``.
        vocab_size, seq_len: as for every encoder.
    """

    class Config(EncoderConfig):
        name: Literal["table"] = "table"

    def __init__(
        self,
        codes: Tensor,
        index: Callable[[Tensor], Tensor],
        vectors: Callable[[Tensor], Tensor],
        *,
        dim: int,
        vocab_size: int,
        seq_len: int,
    ) -> None:
        super().__init__(self.Config(num_slots=codes.shape[1], dim=dim), vocab_size, seq_len)
        self.register_buffer("codes", codes.long())
        self.index, self.vectors = index, vectors

    def forward(self, x0: Tensor, attention_mask: Tensor, hide: Tensor | None = None) -> Tensor:
        return self.vectors(self.codes[self.index(x0)]).float()  # (B, K, d)


def table_model(
    components: Components,
    table: Tensor,
    index: Callable[[Tensor], Tensor],
    *,
    vocab_size: int,
    seq_len: int,
    schedule: ComponentConfig,
    objective: str = "nelbo",
) -> LaddModel:
    """A token-only :class:`LaddModel` (``masked`` process, ``none`` latent) whose denoiser is a table.

    Args:
        components: registries with the built-ins.
        table: ``(S, L, V)`` denoiser over :class:`~ladd_core.testing.exact.MaskedSpace` ``([V] * L)``.
        index: that space's ``index``.
        vocab_size, seq_len: ``V``, ``L``.
        schedule: the token schedule's config.
        objective: objective name.
    """
    sched = schedule.model_dump(mode="json")
    process = build_kind(components, "token_process", {"name": "masked", "schedule": sched}, vocab_size=vocab_size)
    latent = build_kind(components, "latent", {"name": "none"})
    obj = build_kind(components, "objective", {"name": objective})
    net = TableDenoiser(index, table, num_tokens=seq_len, num_classes=vocab_size + 1)
    return LaddModel(process=process, latent=latent, backbone=net, objective=obj, seq_len=seq_len,
                     capabilities=frozenset({"no_latent", "tokens"}))  # fmt: skip


def reported_token_nelbo(model: LaddModel, x0: Tensor, nodes: int = 60) -> Tensor:
    """The model's reported token NELBO at ``x0 (L,)``, in expectation over ``t`` and ``x_t`` (float64 scalar).

    ``E_t E_{x_t}[objective(...).nelbo]`` with every mask pattern enumerated and ``t`` integrated on
    ``[0, 1]`` by tanh-sinh quadrature: the continuous-time NELBO exactly as the framework computes it
    (``process.log_probs`` of the denoiser's logits, the objective, ``process.elbo_weight``).
    """
    length = x0.shape[0]
    space = MaskedSpace([model.process.vocab_size] * length)
    t, _, w = tanh_sinh(nodes)
    alphas = model.process.schedule.alpha(t)[:, None].expand(-1, length)  # (T, L)

    def fn(states: Tensor, m: int) -> Tensor:
        tt = t.repeat_interleave(m)  # (T * M,)
        with torch.no_grad():
            logits = model.backbone(states, None, tt.float(), None).token_logits
            lp = model.process.log_probs(logits, states)
            mask = torch.ones_like(states, dtype=torch.bool)
            return model.objective(model.process, lp, x0.expand(len(states), -1), states, tt, mask).nelbo

    return (w * expected_over_masks(space, x0, alphas, fn)).sum()
