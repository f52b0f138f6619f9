"""Named experiment configs shipped with ladd (plain dicts, validated when used).

Sizes are calibrated for a 2-core CPU (see docs/notes/benchmark-history.md and the reference
measurements of a hand-written MDLM).  The sawtooth MDLM preset reaches the data entropy within
about 500 steps (validation NELBO 0.761 against 0.766 bits/token); its 5000 steps are the budget the
latent presets' comparisons use.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "MARKOV_DATA",
    "PRESETS",
    "SAWTOOTH_ENCODER",
    "SAWTOOTH_MDLM",
    "SHAKESPEARE_MDLM",
    "TEXT_ENCODER",
    "derive",
    "latent_model",
    "on_mixture",
    "on_phrases",
]


def mdlm_model(hidden: int, cond_dim: int) -> dict[str, Any]:
    """An MDLM's ``model`` section: masked tokens on the linear schedule, no latent, a DiT 4 layers x 4 heads."""
    return {
        "token_process": {"name": "masked", "schedule": {"name": "linear"}},
        "latent": {"name": "none"},
        "backbone": {"name": "dit", "hidden": hidden, "layers": 4, "heads": 4, "cond_dim": cond_dim},
    }


SAWTOOTH_MDLM: dict[str, Any] = {
    "description": "MDLM on the binary sawtooth (L=128): DiT 64x4, masked-ce, 5k steps (~10 min on 2 cores)",
    "seed": 0,
    "model": mdlm_model(hidden=64, cond_dim=32),
    "objective": {"name": "masked-ce"},
    "data": {"name": "sawtooth", "seq_len": 128},
    "sampler": {"name": "ancestral", "steps": 64},
    "train": {
        "batch_size": 64,
        "max_steps": 5000,
        "lr": 2e-3,
        "warmup_steps": 200,
        "ema": 0.99,
        "log_every": 100,
        "checkpoint_every": 1000,
        "eval_every": 1000,
    },
}

SHAKESPEARE_MDLM: dict[str, Any] = {
    "description": (
        "MDLM on Shakespeare (char-level, L=128): DiT 128x4, masked-ce, Muon (lr 5e-3) on the blocks' matrices and "
        "AdamW (lr 3e-3) elsewhere, cosine decay, 3.5k steps of 32 x 128 characters (2.57 bits/char, ~16 min on "
        "2 idle cores; docs/notes/benchmark-history.md, 'Text: shakespeare-mdlm learning curve')"
    ),
    "seed": 0,
    "model": mdlm_model(hidden=128, cond_dim=64),
    "objective": {"name": "masked-ce"},
    "data": {"name": "shakespeare", "seq_len": 128, "tokenizer": {"name": "char"}},
    "sampler": {"name": "ancestral", "steps": 64},
    "train": {
        "batch_size": 32,
        # 3500: 16 min on 2 idle cores, ~24 min at the slowest throughput measured here (10k char/s); Muon costs
        # ~6 % per step over AdamW (150-step A/B, 2 threads: 15.6k vs 16.6k char/s)
        "max_steps": 3500,
        "optimizer": "muon",
        "muon_lr": 5e-3,
        "lr": 3e-3,
        "lr_decay": "cosine",
        "min_lr_ratio": 0.1,
        "warmup_steps": 200,
        "weight_decay": 0.03,
        "ema": 0.999,
        "log_every": 50,
        "checkpoint_every": 250,
        "eval_every": 250,
        "eval_batches": 8,
    },
}
"""``shakespeare-mdlm``; ``shakespeare-coladd`` / ``shakespeare-diladd`` derive from it (same training, but AdamW:
Muon was measured on this MDLM only, so the latent presets, ``markov-mdlm`` and the bench keep the optimiser their
documented results were measured with).

Muon (issue #12, 2026-12-01): paired with the AdamW run of the same seed and batches, the validation NELBO at step
1000 is 2.90 against 3.05 bits/char (Muon lr 5e-3; 1e-2 gave 2.97, 2e-2 was unstable).  The preset's 3500 steps
end at 2.57 bits/char in 16 min on 2 idle cores (AdamW's 4000 steps ended at 2.69).

The AdamW learning rate (3e-3, was 1e-3) comes from validation runs (issue #12, docs/notes/benchmark-history.md):
6e-3 was worse at step 500 (3.48 against 3.36 bits/char), 1e-3 slower. With AdamW alone the cosine decay over 4000
steps ended at 2.69 bits/char (3.05 at step 1000); the ``nelbo`` objective instead of masked-ce was worse at every
step measured (3.30 against 3.05 at step 1000).
"""

MARKOV_DATA: dict[str, Any] = {"name": "markov", "seq_len": 128, "order": 4}
"""The ``markov`` data section of the ``markov-*`` presets: an order-4 chain fitted on Shakespeare."""

MARKOV_MDLM: dict[str, Any] = {
    **copy.deepcopy(SHAKESPEARE_MDLM),
    "description": (
        "MDLM on text-like data with an exact likelihood: L=128 characters from an order-4 Witten-Bell "
        "Markov chain fitted on Shakespeare (true-nll applies); model and training as shakespeare-mdlm"
    ),
    "data": MARKOV_DATA,
    # the markov comparison (docs/notes/benchmark-history.md) was trained with AdamW, as the LADD presets still are
    "train": {**SHAKESPEARE_MDLM["train"], "optimizer": "adamw"},
}


def derive(base: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A copy of ``base`` with whole sections replaced and ``train`` updated key by key (the latent presets)."""
    out = copy.deepcopy(base)
    train = sections.pop("train", {})
    out.update(copy.deepcopy(sections))
    out["train"] = {**out["train"], **train}
    return out


def latent_model(base: dict[str, Any], latent: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``base``'s ``model`` section with ``latent`` and the backbone turned into an ``mmdit`` of the same size.

    ``fields``: more model fields (a ``latent_denoiser``).  The Co-LADD and Di-LADD presets of a dataset differ
    in ``model.latent`` (and ``model.latent_denoiser``) only.
    """
    model = copy.deepcopy(base["model"])
    return {**model, "latent": latent, "backbone": {**model["backbone"], "name": "mmdit"}, **fields}


SAWTOOTH_ENCODER: dict[str, Any] = {
    "name": "transformer",
    "num_slots": 1,
    "dim": 32,
    "hidden": 32,
    "layers": 2,
    "heads": 2,
}
"""The trainable encoder of the latent presets on the sawtooth: one slot of 32 dims, 2 layers.

Two layers, not four (issue #16): the other two cost about 60 ms of a 300 ms stage-1 step (1.20x MDLM -> 1.00x,
``benchmarks/encoder_ab.py``), and the 2-layer presets pass the same seed bar (docs/notes/benchmark-history.md, "Seed
robustness of the shipped presets").
"""

TEXT_ENCODER: dict[str, Any] = {"name": "transformer", "num_slots": 4, "dim": 32, "hidden": 64, "layers": 2, "heads": 4}
"""The trainable encoder of the latent presets on Shakespeare and its Markov chain: four slots of 32 dims."""


def on_mixture(preset: dict[str, Any], kind: str) -> dict[str, Any]:
    """A sawtooth preset moved to the ``mixture`` data (a discrete hidden class instead of a phase), unchanged
    otherwise: the held-out style that checks a preset is not tuned to one toy."""
    out = copy.deepcopy(preset)
    out["description"] = f"{kind} on the mixture data (16 hidden classes, L=128), the sawtooth preset's settings"
    out["data"] = {"name": "mixture", "seq_len": 128}
    return out


MIXTURE_MDLM = on_mixture(SAWTOOTH_MDLM, "MDLM")


def on_phrases(preset: dict[str, Any], kind: str) -> dict[str, Any]:
    """A sawtooth latent preset moved to the ``phrases`` data (64 noisy Shakespeare phrases, a text alphabet, L=64),
    unchanged otherwise: a text-like dataset with a discrete hidden cause (issues #30, #34)."""
    out = copy.deepcopy(preset)
    out["description"] = (
        f"{kind} on the phrases data (64 noisy Shakespeare phrases, L=64), the sawtooth preset's settings"
    )
    out["data"] = {"name": "phrases", "seq_len": 64}
    return out


PHRASES_MDLM: dict[str, Any] = {
    **copy.deepcopy(SAWTOOTH_MDLM),
    "description": (
        "MDLM on phrases (64 noisy Shakespeare phrases, L=64 characters, noise 0.15; exact likelihood, entropy "
        "0.927 nats/char, ideal factorized sampler 4.90x at N=1): the sawtooth MDLM's DiT 64x4, masked-ce, 5k steps"
    ),
    "data": {"name": "phrases", "seq_len": 64},
}
"""``phrases-mdlm`` (issues #30, #34): the sawtooth MDLM (DiT 64x4, batch 64, 5000 steps, AdamW lr 2e-3) on the
``phrases`` data: 5000 x 64 sequences of 64 characters, half the sawtooth's 41 M tokens (not yet timed on idle cores).
At N = 1 even a perfect MDLM scores the ideal factorized ratio (4.90x, ``benchmarks/phrases_reference.py``)."""

PRESETS: dict[str, dict[str, Any]] = {
    "sawtooth-mdlm": SAWTOOTH_MDLM,
    "mixture-mdlm": MIXTURE_MDLM,
    "shakespeare-mdlm": SHAKESPEARE_MDLM,
    "markov-mdlm": MARKOV_MDLM,
    "phrases-mdlm": PHRASES_MDLM,
}
