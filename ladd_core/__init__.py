"""ladd_core: the abstract core of ladd, a framework for latent-augmented discrete diffusion.

It holds ABCs, registries, hook specifications, the plug-in manager, configs,
the builder, the training/sampling engine and the CLI.  Every concrete
component lives in a plug-in (built-ins included) registered through entry
points in group ``ladd``.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("ladd")
"""Marker for plug-in hook implementations: ``@hookimpl def ladd_register_latents(register): ...``."""

__all__ = ["__version__", "hookimpl"]
