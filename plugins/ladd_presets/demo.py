"""The built-in ``ladd demo`` steps: small MDLMs on the sawtooth and on Shakespeare."""

from __future__ import annotations

from ladd_core.evaluation.plan import DemoStep

__all__ = ["DEMO_STEPS"]


def _step(
    preset: str,
    *,
    steps: int,
    log_every: int,
    quick_data: str,
    num_samples: int,
    order: int,
    metrics: tuple[str, ...] = (),
    temperature: float | None = None,
    top_p: float | None = None,
) -> DemoStep:
    """``preset`` cut to ``steps`` steps without evaluation; ``--quick``: 30 steps of a one-layer backbone, with
    ``quick_data`` (an override that shrinks the data)."""
    return DemoStep(
        preset=preset,
        overrides=(f"train.max_steps={steps}", "train.eval_every=0", f"train.log_every={log_every}"),
        quick=("train.max_steps=30", "train.log_every=10", "model.backbone.layers=1", quick_data),
        num_samples=num_samples,
        order=order,
        metrics=metrics,
        temperature=temperature,
        top_p=top_p,
    )


DEMO_STEPS: dict[str, DemoStep] = {
    # 500 steps: the preset's validation NELBO is 0.761 bits/token there (data entropy 0.766), and its samples
    # score 1.65 / 1.16 / 1.05 / 1.02 x entropy at N = 1 / 4 / 16 / 64, as after 1000 steps (1.65 / 1.16 / 1.03 /
    # 1.02; docs/benchmarks.md, the demo).
    "sawtooth": _step(
        "sawtooth-mdlm", steps=500, log_every=250, quick_data="data.val_size=256", num_samples=128, order=0
    ),
    # The preset cut to its first 1000 steps (validation NELBO ~3.05 bits/char there, docs/benchmarks.md,
    # "Text: shakespeare-mdlm learning curve").  Sampled at T = 0.8 with top-p 0.9: at N = 64 the share of real
    # words goes from 0.42 (T = 1) to 0.56 (docs/benchmarks.md, the demo); the bench compares at matched entropy.
    "shakespeare": _step(
        "shakespeare-mdlm",
        steps=1000,
        log_every=100,
        quick_data="data.max_chars=200000",
        num_samples=32,
        order=1,
        metrics=("real-words",),
        temperature=0.8,
        top_p=0.9,
    ),
}
