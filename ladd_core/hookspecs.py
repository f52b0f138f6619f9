"""Hook specifications for ladd plug-ins.

A plug-in is a module (or object) with functions marked ``@ladd_core.hookimpl``
and named after the hooks below, exposed through an entry point in group
``ladd``::

    [project.entry-points.ladd]
    mylatent = "ladd_mylatent"

Every hook receives one ``register`` callback bound to a registry:
``register(name, ComponentClass, aliases=())``.  A component class has a
nested pydantic ``Config`` (subclass of the kind's base config) whose ``name``
field is ``Literal[name]``.  Each hook is documented in ``docs/plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
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
    from ladd_core.evaluation.plan import BenchPlan, DemoStep
    from ladd_core.registry import Register

hookspec = pluggy.HookspecMarker("ladd")

__all__ = ["hookspec"]


@hookspec
def ladd_register_schedules(register: Register[type[Schedule]]) -> None:
    """Register noise schedules (``alpha(t)``), shared by token and latent channels.

    :param register: ``register("linear", LinearSchedule)``.
    """


@hookspec
def ladd_register_token_processes(register: Register[type[TokenProcess]]) -> None:
    """Register token processes (forward noising + reverse posterior step).

    Constructor: ``Cls(config, schedule=..., vocab_size=...)``.
    """


@hookspec
def ladd_register_latents(register: Register[type[LatentChannel]]) -> None:
    """Register latent channels (``none``, ``gaussian``, ``vq``, ...).

    Constructor: ``Cls(config, **injected)`` where injected arguments are the
    components named by the config's Ref fields (``schedule``, ``encoder``) and
    any of ``vocab_size``, ``seq_len`` the ``__init__`` asks for.
    """


@hookspec
def ladd_register_encoders(register: Register[type[Encoder]]) -> None:
    """Register encoders ``x_0 -> (B, K, d)``.  Constructor: ``Cls(config, vocab_size=..., seq_len=...)``."""


@hookspec
def ladd_register_backbones(register: Register[type[Backbone]]) -> None:
    """Register denoiser networks.  Constructor: ``Cls(config, spec=BackboneSpec(...))``."""


@hookspec
def ladd_register_attention_backends(register: Register[type[AttentionBackend]]) -> None:
    """Register attention kernels ``(q, k, v, key_mask) -> out`` (``sdpa``, ``math``, ``xformers``).

    Constructor: ``Cls(config)``.  Backbones name one in their ``attention`` field.
    """


@hookspec
def ladd_register_objectives(register: Register[type[Objective]]) -> None:
    """Register token objectives (loss weighting and time sampling).  Constructor: ``Cls(config)``."""


@hookspec
def ladd_register_samplers(register: Register[type[Sampler]]) -> None:
    """Register samplers; each declares ``requires`` (model capabilities).  Constructor: ``Cls(config)``."""


@hookspec
def ladd_register_data_sources(register: Register[type[DataSource]]) -> None:
    """Register data sources.  Constructor: ``Cls(config, seed=..., work_dir=..., tokenizer=...)``."""


@hookspec
def ladd_register_tokenizers(register: Register[type[Tokenizer]]) -> None:
    """Register tokenizers.  Constructor: ``Cls(config)``."""


@hookspec
def ladd_register_metrics(register: Register[type[Metric]]) -> None:
    """Register metrics; each declares ``requires``.  Constructor: ``Cls(config)``."""


@hookspec
def ladd_register_presets(register: Register[dict[str, Any]]) -> None:
    """Register named experiment configs (plain dicts validated on use).

    ``register("my-preset", {...})``; a ``"description"`` key is allowed.
    """


@hookspec
def ladd_register_config_defaults(register: Register[str]) -> None:
    """Name the component an experiment config gets when it leaves a component field out.

    ``register("data", "my-data")``, ``register("model.backbone", "my-net")``: the
    key is a component field path of the experiment config, the value a
    registered component name.  The core names no component itself; a field
    nobody gives a default is required.
    """


@hookspec
def ladd_register_bench_plans(register: Register[BenchPlan]) -> None:
    """Register what ``ladd bench`` runs for a dataset: ``register("my-data", BenchPlan(...))``.

    The plan lists the presets to compare (the reference first), their budgets
    (full and ``--quick``) and the samplers to evaluate; see
    :class:`ladd_core.evaluation.plan.BenchPlan`.
    """


@hookspec
def ladd_register_demo_steps(register: Register[DemoStep]) -> None:
    """Register what ``ladd demo`` (the quick start) trains and samples: ``register("my-step", DemoStep(...))``.

    Each :class:`ladd_core.evaluation.plan.DemoStep` names a preset, its full and ``--quick`` overrides and
    how many samples to draw; the demo runs every registered step in ``order``.
    """
