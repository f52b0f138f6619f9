"""The built-in ``ladd demo`` steps: small MDLMs on the sawtooth and on Shakespeare."""

from __future__ import annotations

from ladd_core.evaluation.plan import DemoStep

__all__ = ["DEMO_STEPS"]

DEMO_STEPS: dict[str, DemoStep] = {
    # The sawtooth MDLM must train past the ~2000-step plateau where it has not yet found the phase
    # (docs/benchmarks.md).
    "sawtooth": DemoStep(
        preset="sawtooth-mdlm",
        overrides=("train.max_steps=3000", "train.eval_every=0", "train.log_every=250"),
        quick=("train.max_steps=30", "train.log_every=10", "model.backbone.layers=1", "data.val_size=256"),
        num_samples=128,
        order=0,
    ),
    # The preset cut to its first 1000 steps (validation NELBO ~3.05 bits/char there, docs/benchmarks.md,
    # "Text: shakespeare-mdlm learning curve").
    "shakespeare": DemoStep(
        preset="shakespeare-mdlm",
        overrides=("train.max_steps=1000", "train.eval_every=0", "train.log_every=100"),
        quick=("train.max_steps=30", "train.log_every=10", "model.backbone.layers=1", "data.max_chars=200000"),
        num_samples=8,
        order=1,
    ),
}
