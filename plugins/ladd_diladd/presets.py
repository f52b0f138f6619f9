"""Di-LADD presets, derived from the MDLM presets of ``ladd_presets`` by swapping components.

Relative to the MDLM base: ``model.latent`` becomes ``vq`` (with its encoder), the backbone
becomes ``mmdit`` of the same width and depth, the sampler becomes a latent sampler, and
``train.stages`` gains the stage-2 boundary.  The encoder, backbone, objective and sampler
match the Co-LADD presets (``ladd_coladd.presets``), so switching Di-LADD <-> Co-LADD changes
``model.latent`` (name and its own fields) and ``model.latent_denoiser`` only.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["diladd_presets"]


def _derive(base: dict[str, Any], *, description: str, latent: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """``base`` with ``model.latent`` replaced, the backbone renamed ``mmdit``, sections replaced, ``train`` updated."""
    cfg = copy.deepcopy(base)
    cfg["description"] = description
    cfg["model"]["latent"] = latent
    cfg["model"]["backbone"] = {**cfg["model"]["backbone"], "name": "mmdit"}
    train = sections.pop("train", {})
    cfg.update(copy.deepcopy(sections))
    cfg["train"] = {**cfg["train"], **train}
    return cfg


def diladd_presets() -> dict[str, dict[str, Any]]:
    """``sawtooth-diladd``, ``shakespeare-diladd``, ``markov-diladd`` and ``mixture-diladd``."""
    from ladd_presets.presets import SAWTOOTH_MDLM, SHAKESPEARE_MDLM, on_mixture

    sawtooth = _derive(
        SAWTOOTH_MDLM,
        description=(
            "Di-LADD on the binary sawtooth (method §6.4): one code (C=512, D=32) of a trainable transformer "
            "encoder, polynomial code schedule, trained for the sequential schedule (codes from the all-mask x, "
            "tokens from clean codes), masked-CE token loss with a quarter of the rows fully masked, MM-DiT 64x4; "
            "2000 steps: stage 1 (0-1000) encoder + token net, stage 2 frozen encoder/codebook + code loss; "
            "sequential sampler"
        ),
        latent={
            "name": "vq",
            "encoder": {"name": "transformer", "num_slots": 1, "dim": 32, "hidden": 32, "layers": 4, "heads": 2},
            "schedule": {"name": "polynomial", "power": 2.0},
            "codebook_size": 512,
            "ema_decay": 0.95,
            "commitment": 0.25,
            # the paper's threshold 2 is for 2048 inputs per batch over 511 codes (mean size 4);
            # here 64 inputs over 512 codes (mean size 0.125): same ratio
            "dead_threshold": 0.0625,
            "clocks": "independent",
            "latent_loss": "nelbo",
            "target": "sequential",
        },
        objective={"name": "masked-ce", "full_mask_fraction": 0.25},  # as sawtooth-coladd (docs/coladd.md)
        sampler={"name": "sequential", "steps": 64, "latent_steps": 8},
        train={"max_steps": 2000, "stages": [0, 1000], "ema": 0.99},
    )
    shakespeare = _derive(
        SHAKESPEARE_MDLM,
        description=(
            "Di-LADD on Shakespeare (char-level, L=128): 4 codes (C=512, D=32) of a trainable transformer encoder, "
            "linear code schedule, independent clocks, masked-CE losses, encoder input masking 0.25, MM-DiT 128x4; "
            "stage 2 from step 1000; joint sampler (sequential also works)"
        ),
        latent={
            "name": "vq",
            "encoder": {"name": "transformer", "num_slots": 4, "dim": 32, "hidden": 64, "layers": 2, "heads": 4},
            "schedule": {"name": "linear"},
            "codebook_size": 512,
            "commitment": 0.25,
            "dead_threshold": 0.125,  # half the mean cluster size (32 x 4 inputs over 512 codes), as in the paper
            "p_mask_input_enc": 0.25,
            "clocks": "independent",
            "latent_loss": "masked-ce",
        },
        sampler={"name": "joint", "steps": 64},
        train={"stages": [0, 1000]},
    )
    from ladd_presets.presets import MARKOV_DATA

    markov = {
        **copy.deepcopy(shakespeare),
        "description": (
            "Di-LADD on the order-4 Markov chain fitted on Shakespeare (exact likelihood, L=128): "
            "shakespeare-diladd with the markov data source"
        ),
        "data": copy.deepcopy(MARKOV_DATA),
    }
    mixture = on_mixture(sawtooth, "Di-LADD (sequential)")
    return {
        "sawtooth-diladd": sawtooth,
        "shakespeare-diladd": shakespeare,
        "markov-diladd": markov,
        "mixture-diladd": mixture,
    }
