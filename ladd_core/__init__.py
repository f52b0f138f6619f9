"""ladd_core: the abstract core of ladd, a framework for latent-augmented discrete diffusion.

It holds ABCs, registries, hook specifications, the plug-in manager, configs,
the builder, the training/sampling engine and the CLI.  Every concrete
component lives in a plug-in (built-ins included) registered through entry
points in group ``ladd``.

The Python API (imported on first use, so ``import ladd_core`` stays light for plug-ins)::

    import ladd_core as ladd
    cfg = ladd.config("my-preset", {"train.max_steps": 2000})   # preset name, file, dict
    run = ladd.train(cfg, out="runs/co")          # or ladd.load("runs/co") / an exported model directory
    out = run.sample(num_samples=8, steps=4, prompt="0110")
    scores = ladd.evaluate([run], steps=[1, 4], metrics=["true-nll"])
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ladd")
"""Marker for plug-in hook implementations: ``@hookimpl def ladd_register_latents(register): ...``."""

_API = ("Run", "Samples", "evaluate", "load", "train")

__all__ = ["Run", "Samples", "__version__", "config", "evaluate", "hookimpl", "load", "train"]


class _ConfigPackage:
    """What ``ladd_core.config`` is: the :mod:`ladd_core.config` package, callable as :func:`ladd_core.api.config`.

    Attribute access goes to the package (``ladd_core.config.experiment`` works as always);
    calling it builds a validated config, so the API reads ``ladd.config("preset", {...})``.
    """

    def __init__(self, package: types.ModuleType) -> None:
        object.__setattr__(self, "_package", package)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ladd_core import api

        return api.config(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._package, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._package, name, value)

    def __repr__(self) -> str:
        return f"<callable package {self._package.__name__!r}>"


class _Root(types.ModuleType):
    """The root package's type: the import system's ``setattr(ladd_core, "config", <package>)`` wraps it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "config" and isinstance(value, types.ModuleType):
            value = _ConfigPackage(value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Root


def __getattr__(name: str) -> Any:
    """The API names, imported on first use so that ``import ladd_core`` stays light for plug-ins."""
    if name in _API:
        from ladd_core import api

        return getattr(api, name)
    if name == "config":
        import importlib

        importlib.import_module("ladd_core.config")  # the import stores the (wrapped) package on this module
        return sys.modules[__name__].__dict__["config"]
    raise AttributeError(f"module 'ladd_core' has no attribute {name!r}")
