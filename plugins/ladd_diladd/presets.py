"""Di-LADD presets, derived from the MDLM presets of ``ladd_presets`` by swapping components.

Relative to the MDLM base: ``model.latent`` becomes ``vq`` (with its encoder), the backbone
becomes ``mmdit`` of the same width and depth, the sampler becomes a latent sampler, and
``train.stages`` gains the stage-2 boundary.  The encoder, backbone, objective and sampler
match the Co-LADD presets (``ladd_coladd.presets``), so switching Di-LADD <-> Co-LADD changes
``model.latent`` (name and its own fields) and ``model.latent_denoiser`` only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["diladd_presets"]


def diladd_presets() -> dict[str, dict[str, Any]]:
    """``sawtooth-diladd``, ``shakespeare-diladd``, ``markov-diladd`` and ``mixture-diladd``."""
    from ladd_presets import presets

    sawtooth = presets.derive(
        presets.SAWTOOTH_MDLM,
        description=(
            "Di-LADD on the binary sawtooth (method §6.4): one code (C=512, D=32) of a trainable 2-layer "
            "transformer encoder, polynomial code schedule, trained for the sequential schedule (codes from the "
            "all-mask x, tokens from clean codes), masked-CE token loss with a quarter of the rows fully masked, "
            "MM-DiT 64x4; 2000 steps: stage 1 (0-1000) encoder + token net, stage 2 frozen encoder/codebook + code "
            "loss on a quarter of the rows; sequential sampler"
        ),
        model=presets.latent_model(
            presets.SAWTOOTH_MDLM,
            {
                "name": "vq",
                "encoder": presets.SAWTOOTH_ENCODER,
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
                # the stage-2 code pass on a quarter of the rows (loss rescaled to the batch mean): 1.75x -> 1.10x
                # MDLM per stage-2 step, seed bar unchanged (docs/notes/benchmark-history.md, "Seed robustness")
                "code_loss_rows": 0.25,
            },
        ),
        objective={"name": "masked-ce", "full_mask_fraction": 0.25},  # as sawtooth-coladd (docs/coladd.md)
        sampler={"name": "sequential", "steps": 64, "latent_steps": 8},
        train={"max_steps": 2000, "stages": [0, 1000], "ema": 0.99},
    )
    shakespeare = presets.derive(
        presets.SHAKESPEARE_MDLM,
        description=(
            "Di-LADD on Shakespeare (char-level, L=128): 4 codes (C=512, D=32) of a trainable transformer encoder, "
            "linear code schedule, trained for the sequential schedule (codes from the all-mask x, tokens from clean "
            "codes) as sawtooth-diladd, masked-CE token loss with a quarter of the rows fully masked, MM-DiT 128x4; "
            "stage 2 (second half) frozen encoder/codebook + code loss on a quarter of the rows; sequential sampler"
        ),
        model=presets.latent_model(
            presets.SHAKESPEARE_MDLM,
            {
                "name": "vq",
                "encoder": presets.TEXT_ENCODER,
                "schedule": {"name": "linear"},
                "codebook_size": 512,
                "commitment": 0.25,
                "dead_threshold": 0.125,  # half the mean cluster size (32 x 4 inputs over 512 codes), as in the paper
                "clocks": "independent",
                "latent_loss": "nelbo",
                # issue #30: the joint sampler at N = 1 reads all-mask codes, so a joint-trained text preset
                # samples like MDLM there by construction; the sequential target reads clean codes
                "target": "sequential",
                "code_loss_rows": 0.25,
            },
        ),
        objective={"name": "masked-ce", "full_mask_fraction": 0.25},
        sampler={"name": "sequential", "steps": 64, "latent_steps": 8},
        # Muon is measured on shakespeare-mdlm only
        train={"stages": [0, presets.SHAKESPEARE_MDLM["train"]["max_steps"] // 2], "optimizer": "adamw"},
    )
    markov = presets.derive(
        shakespeare,
        description=(
            "Di-LADD on the order-4 Markov chain fitted on Shakespeare (exact likelihood, L=128): "
            "shakespeare-diladd with the markov data source"
        ),
        data=presets.MARKOV_DATA,
        train={"stages": [0, presets.MARKOV_MDLM["train"]["max_steps"] // 2]},
    )
    mixture = presets.on_mixture(sawtooth, "Di-LADD (sequential)")
    phrases = presets.on_phrases(sawtooth, "Di-LADD (sequential)")
    return {
        "sawtooth-diladd": sawtooth,
        "shakespeare-diladd": shakespeare,
        "markov-diladd": markov,
        "mixture-diladd": mixture,
        "phrases-diladd": phrases,
    }
