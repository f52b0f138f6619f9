"""The built-in config defaults: an experiment config that names no component is an MDLM on the sawtooth."""

from __future__ import annotations

__all__ = ["CONFIG_DEFAULTS"]

CONFIG_DEFAULTS: dict[str, str] = {
    "model.token_process": "masked",
    "model.latent": "none",
    "model.backbone": "dit",
    "objective": "masked-ce",
    "data": "sawtooth",
    "sampler": "ancestral",
}
"""What an experiment config gets for a component field it leaves out (an MDLM on the sawtooth)."""
