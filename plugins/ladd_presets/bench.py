"""The built-in ``ladd bench`` plans: MDLM vs Co-LADD vs Di-LADD on the sawtooth and on Shakespeare.

Each dataset compares ``<dataset>-mdlm`` (the reference), ``<dataset>-coladd`` and
``<dataset>-diladd`` at the same steps x batch x length.  The full plans take several hours on 2 cores
together (Shakespeare alone: 80 min on 2026-12-01, partly next to another job).

``--quick`` is a smoke test of the whole pipeline, sized for <= 5 min on 2 idle cores for the three default
datasets together (design: docs/benchmarks.md, "ladd bench --quick"; measured: docs/results.md, "Speed"): every
model of every plan is still trained and evaluated, but for tens of steps, on one seed, at N = 1 and 4, with each
run's own sampler only (no temperature sweep) and few samples.  Its numbers say the pipeline runs end to end, not
which model is better.
"""

from __future__ import annotations

from dataclasses import replace

from ladd_core.evaluation.plan import BenchBudget, BenchPlan

__all__ = ["BENCH_PLANS"]

_MODELS = ("mdlm", "coladd", "diladd")
_SAMPLERS = ("ancestral", "joint", "sequential", "maskgit", "remdm")
"""``maskgit`` and ``remdm`` run on every model (``latent_mode: auto``: token-only for MDLM, the latent's own
schedule otherwise); the others where the model offers their schedule."""
_EXACT_QUALITY = ("true-nll-ratio", "swd")
"""Quality per sampling second on the known-generator datasets: true NLL / entropy, sliced Wasserstein distance."""
_FULL_GRID = (1, 2, 4, 8, 16, 32, 64)
_QUICK_GRID = (1, 4)
_OWN_SAMPLER = ()
"""``BenchBudget.samplers`` of the quick budgets: each run's own sampler only (fewer cells)."""

_TEXT_QUICK = BenchBudget(
    steps=60,
    grid=_QUICK_GRID,
    seeds=(0,),
    num_samples=8,
    overrides=("data.max_chars=300000", "model.backbone.layers=2", "model.backbone.hidden=64"),
    samplers=_OWN_SAMPLER,
)
"""The ``--quick`` budget on the character-level text datasets (Shakespeare and its Markov chain): a smoke test."""


def _plan(
    dataset: str,
    *,
    steps: int,
    num_samples: int,
    quick: BenchBudget,
    quality: tuple[str, ...],
    extra: tuple[str, ...] = (),
    grid: tuple[int, ...] = _FULL_GRID,
    temperatures: tuple[float, ...] | None = None,
    samplers: tuple[str, ...] = _SAMPLERS,
    overrides: tuple[str, ...] = (),
) -> BenchPlan:
    """``<dataset>-mdlm`` (the reference), ``-coladd``, ``-diladd`` and the ``extra`` presets under every sampler;
    the full budget trains ``steps`` steps and draws ``num_samples`` samples per grid point, temperature and
    each of three seeds."""
    full = BenchBudget(
        steps=steps, grid=grid, seeds=(0, 1, 2), num_samples=num_samples, temperatures=temperatures, overrides=overrides
    )
    return BenchPlan(
        presets=(*(f"{dataset}-{m}" for m in _MODELS), *extra),
        full=full,
        quick=quick,
        samplers=samplers,
        quality=quality,
    )


BENCH_PLANS: dict[str, BenchPlan] = {
    "sawtooth": _plan(
        "sawtooth",
        steps=3000,
        num_samples=256,
        quick=BenchBudget(
            steps=60,
            grid=_QUICK_GRID,
            seeds=(0,),
            num_samples=32,
            overrides=("data.val_size=512", "model.backbone.layers=2", "train.log_every=20"),  # ms/step needs 2+ logs
            samplers=_OWN_SAMPLER,
        ),
        quality=_EXACT_QUALITY,
    ),
    # The frozen-encoder Co-LADD is skipped (with a notice) where its optional package is not installed.  The
    # temperature sweep gives judge perplexity at matched entropy (the frontier figure, issue #12); the judge
    # costs ~0.25 s per sample on 2 cores, so the sweep runs on four token-step counts, not seven, and with
    # each model's own samplers only (maskgit and remdm are compared on the sawtooth and markov).
    "shakespeare": _plan(
        "shakespeare",
        steps=1000,
        num_samples=32,
        quick=_TEXT_QUICK,
        quality=("gen-ppl",),
        extra=("shakespeare-coladd-minilm",),
        grid=(1, 4, 16, 64),
        temperatures=(0.7, 0.8, 0.9, 1.0),
        samplers=("ancestral", "joint", "sequential"),
        # every model on the same optimiser: shakespeare-mdlm trains with Muon, the latent presets with AdamW (Muon
        # is measured on the MDLM only); the documented Shakespeare comparison is AdamW throughout
        overrides=("train.optimizer=adamw",),
    ),
    # Text-like data with an exact likelihood (order-4 chain fitted on Shakespeare, issue #12): the few-step
    # comparison of the text models where true-nll applies.
    "markov": _plan(
        "markov",
        steps=1500,
        num_samples=128,
        # sampling the chain's 32,768 training and 2,048 held-out sequences was a quarter of the quick bench
        quick=replace(_TEXT_QUICK, overrides=(*_TEXT_QUICK.overrides, "data.train_size=2048", "data.val_size=256")),
        quality=_EXACT_QUALITY,
        extra=("markov-coladd-minilm",),
    ),
}
"""Dataset -> plan, registered through ``ladd_register_bench_plans``."""
