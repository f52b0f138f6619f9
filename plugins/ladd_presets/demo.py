"""The built-in ``ladd demo`` steps: MDLM next to LADD on the sawtooth, then an MDLM on Shakespeare."""

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
    group: str = "",
    extra: tuple[str, ...] = (),
    quick_extra: tuple[str, ...] = (),
) -> DemoStep:
    """``preset`` cut to ``steps`` steps without evaluation, plus ``extra`` overrides; ``--quick``: 30 steps of a
    one-layer backbone, with ``quick_data`` (an override that shrinks the data) and ``quick_extra``."""
    return DemoStep(
        preset=preset,
        overrides=(f"train.max_steps={steps}", "train.eval_every=0", f"train.log_every={log_every}", *extra),
        quick=("train.max_steps=30", "train.log_every=10", "model.backbone.layers=1", quick_data, *quick_extra),
        num_samples=num_samples,
        order=order,
        metrics=metrics,
        temperature=temperature,
        top_p=top_p,
        group=group,
    )


DEMO_STEPS: dict[str, DemoStep] = {
    # MDLM and Co-LADD on the sawtooth, the same 500 steps x 64 x 128 tokens, side by side (group "sawtooth").
    # MDLM at 500 steps: validation NELBO 0.761 bits/token (data entropy 0.766); 1.64 / 1.16 / 1.04 / 1.02 x
    # entropy at N = 1 / 4 / 16 / 64 (docs/results.md, "The demo").  At N = 1 no MDLM can do better than the
    # ideal factorized sampler, 1.64-1.66 x: the point the LADD row makes.
    "sawtooth": _step(
        "sawtooth-mdlm",
        steps=500,
        log_every=250,
        quick_data="data.val_size=256",
        num_samples=128,
        order=0,
        group="sawtooth",
    ),
    # The shipped Co-LADD preset cut from 2000 to 500 steps, its two stages scaled with it (stage 2 from step
    # 250): 1.028 / 1.019 / 1.073 x entropy at N = 1 for training seeds 0 / 1 / 2 (256 samples each; docs/results.md,
    # "The demo").  Co-LADD, not Di-LADD: both pass at this budget for seed 0 (1.028 and 1.012; Di-LADD's seeds 1-2
    # were not run), and Co-LADD samples faster at N = 1 (1.3 against 7.6 ms per sample in the 2026-11-27 bench).
    "sawtooth-ladd": _step(
        "sawtooth-coladd",
        steps=500,
        log_every=250,
        quick_data="data.val_size=256",
        num_samples=128,
        order=1,
        group="sawtooth",
        extra=("train.stages=[0,250]",),
        quick_extra=("train.stages=[0,15]",),
    ),
    # The preset cut to its first 500 steps (its cosine spans those 500; validation NELBO 3.21 bits/char there,
    # docs/notes/benchmark-history.md, "Text: shakespeare-mdlm learning curve"), so that the whole demo fits a
    # few minutes.  Sampled at T = 0.8 with top-p 0.9, a sensible decoding setting; the bench compares models at
    # matched entropy instead.
    "shakespeare": _step(
        "shakespeare-mdlm",
        steps=500,
        log_every=100,
        quick_data="data.max_chars=200000",
        num_samples=32,
        order=2,
        metrics=("real-words",),
        temperature=0.8,
        top_p=0.9,
    ),
}
