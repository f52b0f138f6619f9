"""The ``sawtooth-bits`` preset: a tiny binary-sawtooth experiment with the ``bits`` latent (a smoke run)."""

from __future__ import annotations

from typing import Any

__all__ = ["SAWTOOTH_BITS"]

SAWTOOTH_BITS: dict[str, Any] = {
    "description": "Bits latent (2 slots x 4 bits) on a short binary sawtooth: MM-DiT 32x2, nelbo losses, 200 steps",
    "seed": 0,
    "model": {
        "token_process": {"name": "masked", "schedule": {"name": "linear"}},
        "latent": {
            "name": "bits",
            "encoder": {"name": "transformer", "num_slots": 2, "dim": 16, "hidden": 32, "layers": 2, "heads": 2},
            "schedule": {"name": "linear"},
            "bits": 4,
            "clocks": "independent",
        },
        "backbone": {"name": "mmdit", "hidden": 32, "layers": 2, "heads": 2, "cond_dim": 16},
    },
    "objective": {"name": "nelbo"},
    "data": {"name": "sawtooth", "seq_len": 32, "train_size": 4096, "val_size": 256},
    "sampler": {"name": "joint", "steps": 16},
    "train": {
        "batch_size": 32,
        "max_steps": 200,
        "lr": 2e-3,
        "warmup_steps": 20,
        "ema": 0.0,
        "log_every": 20,
        "checkpoint_every": 100,
        "eval_batches": 2,
        "threads": 2,
    },
}
