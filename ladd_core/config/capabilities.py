"""Capability checks: is this combination of components able to run together?

Capabilities are the contract between components (see ``docs/plugins.md``): a
latent channel declares what it offers (``capabilities_for``) and what it
needs from its networks (``backbone_requires``, ``latent_denoiser_requires``),
backbones declare ``capabilities``, samplers declare ``requires``; a latent
capability backed by a protocol (``"joint"``, ``"sequential"``, ``"codes"``, see
:mod:`ladd_core.components.latent_protocols`) needs the channel to implement it.  These
checks run after the config's schema validated, on configs alone (nothing is
built), and report every mismatch with the compatible alternatives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ladd_core.capability import Capability
from ladd_core.components.latent_protocols import unbacked_claims

if TYPE_CHECKING:  # types only: the experiment module imports this one
    from ladd_core.config.experiment import ExperimentConfig
    from ladd_core.plugins import Components

__all__ = ["check_capabilities", "model_capabilities"]

Problem = tuple[str, str]
"""``(field path, message)``, the item :class:`~ladd_core.config.errors.ConfigError` lists."""


def model_capabilities(cfg: ExperimentConfig, components: Components) -> frozenset[str]:
    """Capabilities of the model ``cfg`` describes (latent channel + networks), from configs alone."""
    latent_cls = components.get("latent", cfg.model.latent.name)
    has_den = cfg.model.latent_denoiser is not None
    caps = set(latent_cls.capabilities_for(cfg.model.latent, has_latent_denoiser=has_den))
    caps |= components.get("backbone", cfg.model.backbone.name).capabilities
    if has_den:
        caps.add(Capability.LATENT_DENOISER)
    return frozenset(caps)


def check_capabilities(cfg: ExperimentConfig, components: Components) -> list[Problem]:
    """Every capability mismatch of ``cfg``: networks the latent channel cannot use, a sampler the model cannot run."""
    return _check_protocols(cfg, components) + _check_backbone(cfg, components) + _check_sampler(cfg, components)


def _check_protocols(cfg: ExperimentConfig, components: Components) -> list[Problem]:
    """The latent channel implements the protocol of every capability it declares under ``cfg``."""
    latent_cls = components.get("latent", cfg.model.latent.name)
    has_den = cfg.model.latent_denoiser is not None
    claims = latent_cls.capabilities_for(cfg.model.latent, has_latent_denoiser=has_den)
    return [("model.latent.name", msg) for msg in unbacked_claims(latent_cls, claims)]


def _check_backbone(cfg: ExperimentConfig, components: Components) -> list[Problem]:
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


def _check_sampler(cfg: ExperimentConfig, components: Components) -> list[Problem]:
    caps = model_capabilities(cfg, components)
    samplers = components.registry("sampler")
    needed = samplers.get(cfg.sampler.name).requires_for(cfg.sampler)
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
