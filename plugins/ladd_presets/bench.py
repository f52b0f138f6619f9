"""The built-in ``ladd bench`` plans: MDLM vs Co-LADD vs Di-LADD on the sawtooth and on Shakespeare.

Each dataset compares ``<dataset>-mdlm`` (the reference), ``<dataset>-coladd`` and
``<dataset>-diladd`` at the same steps x batch x length; the full plan takes
about an hour on 2 cores, the quick one a few minutes.
"""

from __future__ import annotations

from ladd_core.evaluation.plan import BenchBudget, BenchPlan

__all__ = ["BENCH_PLANS"]

_MODELS = ("mdlm", "coladd", "diladd")
_SAMPLERS = ("ancestral", "joint", "sequential", "maskgit", "remdm")
"""``maskgit`` and ``remdm`` run on every model (``latent_mode: auto``: token-only for MDLM, the latent's own
schedule otherwise); the others where the model offers their schedule."""
_EXACT_QUALITY = ("true-nll-ratio", "swd")
"""Quality per sampling second on the known-generator datasets: true NLL / entropy, sliced Wasserstein distance."""
_FULL_GRID = (1, 2, 4, 8, 16, 32, 64)
_QUICK_GRID = (1, 2, 4)

BENCH_PLANS: dict[str, BenchPlan] = {
    "sawtooth": BenchPlan(
        presets=tuple(f"sawtooth-{m}" for m in _MODELS),
        full=BenchBudget(steps=3000, grid=_FULL_GRID, seeds=(0, 1, 2), num_samples=256),
        quick=BenchBudget(
            steps=200,
            grid=_QUICK_GRID,
            seeds=(0,),
            num_samples=64,
            overrides=("data.val_size=512", "model.backbone.layers=2"),
        ),
        samplers=_SAMPLERS,
        quality=_EXACT_QUALITY,
    ),
    "shakespeare": BenchPlan(
        # the frozen-encoder Co-LADD is skipped (with a notice) where its optional package is not installed
        presets=(*(f"shakespeare-{m}" for m in _MODELS), "shakespeare-coladd-minilm"),
        full=BenchBudget(steps=1000, grid=_FULL_GRID, seeds=(0, 1, 2), num_samples=32),
        quick=BenchBudget(
            steps=100,
            grid=_QUICK_GRID,
            seeds=(0,),
            num_samples=8,
            overrides=("data.max_chars=300000", "model.backbone.layers=2", "model.backbone.hidden=64"),
        ),
        samplers=_SAMPLERS,
        quality=("gen-ppl",),
    ),
    # Text-like data with an exact likelihood (order-4 chain fitted on Shakespeare, issue #12): the few-step
    # comparison of the text models where true-nll applies.
    "markov": BenchPlan(
        presets=(*(f"markov-{m}" for m in _MODELS), "markov-coladd-minilm"),
        full=BenchBudget(steps=1500, grid=_FULL_GRID, seeds=(0, 1, 2), num_samples=128),
        quick=BenchBudget(
            steps=100,
            grid=_QUICK_GRID,
            seeds=(0,),
            num_samples=8,
            overrides=("data.max_chars=300000", "model.backbone.layers=2", "model.backbone.hidden=64"),
        ),
        samplers=_SAMPLERS,
        quality=_EXACT_QUALITY,
    ),
}
"""Dataset -> plan, registered through ``ladd_register_bench_plans``."""
