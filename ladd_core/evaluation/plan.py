"""What ``ladd bench`` runs for one dataset: data that plug-ins register, not names the core knows.

A plug-in shipping presets registers one :class:`BenchPlan` per dataset through
``ladd_register_bench_plans``::

    register("my-data", BenchPlan(presets=("my-data-baseline", "my-data-latent"), ...))

``ladd bench --datasets my-data`` then trains every installed preset of the
plan at the same budget, matches the other presets' backbone width to the first
one's parameter count and evaluates every run with each sampler of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BenchBudget", "BenchPlan", "DemoStep"]


@dataclass(frozen=True)
class BenchBudget:
    """One budget of a plan (full or ``--quick``).

    Attributes:
        steps: training steps of every run (stage boundaries scale with it).
        overrides: ``path=value`` overrides applied to every preset of the plan.
        grid: sampling steps evaluated.
        seeds: evaluation seeds.
        num_samples: samples per cell and seed.
        temperatures: sampling temperatures, every cell at each (``None``: temperature 1 only); more than one
            draws the frontier figure (quality vs entropy over the sweep).
        samplers: samplers evaluated at this budget (``None``: the plan's; ``()``: each run's own sampler only).
    """

    steps: int
    grid: tuple[int, ...]
    seeds: tuple[int, ...]
    num_samples: int
    overrides: tuple[str, ...] = ()
    temperatures: tuple[float, ...] | None = None
    samplers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BenchPlan:
    """The bench of one dataset.

    Attributes:
        presets: presets compared, the reference first (the others' backbone
            width is matched to its parameter count); presets that are not
            installed are skipped with a message.
        full: the budget of ``ladd bench``.
        quick: the budget of ``ladd bench --quick`` (a smoke run).
        samplers: samplers evaluated (each run with those its model supports).
        latent_steps: latent steps of the samplers that take them.
        quality: sample metrics of the quality-per-sampling-second comparison (latent models against the
            reference at no more wall time, :mod:`ladd_core.evaluation.per_second`); empty: none.
    """

    presets: tuple[str, ...]
    full: BenchBudget
    quick: BenchBudget
    samplers: tuple[str, ...]
    latent_steps: int = 8
    quality: tuple[str, ...] = ()

    def budget(self, quick: bool) -> BenchBudget:
        """:attr:`quick` or :attr:`full`."""
        return self.quick if quick else self.full


@dataclass(frozen=True)
class DemoStep:
    """One run of ``ladd demo`` (the quick start): a preset trained briefly, then sampled at several N.

    Plug-ins register steps through ``ladd_register_demo_steps``; the demo runs every registered step in
    ``order`` (then name) order.

    Attributes:
        preset: the preset trained.
        overrides: ``path=value`` overrides of the full demo (e.g. a shorter ``train.max_steps``).
        quick: overrides of ``ladd demo --quick`` (a smoke run; results meaningless).
        num_samples: samples drawn per number of token steps.
        order: position in the demo (lower first).
        note: one line printed before training (why this budget).
        metrics: sample metrics printed for each N (registered names, e.g. a text-quality check), besides the
            true NLL that a known generator gives.
        temperature: the sampling temperature of the demo's samples (``None``: the preset's sampler's).
        top_p: the nucleus mass kept when sampling (``None``: the preset's sampler's).
        group: steps sharing a non-empty group (on data with a known generator) are compared side by side: one
            table of true NLL / entropy, NFE and seconds per sample per N, and one quality-vs-NFE figure.
    """

    preset: str
    overrides: tuple[str, ...]
    quick: tuple[str, ...]
    num_samples: int = 16
    order: int = 0
    note: str = ""
    metrics: tuple[str, ...] = ()
    temperature: float | None = None
    top_p: float | None = None
    group: str = ""

    def setting(self) -> str:
        """How the demo samples this step, e.g. ``"T=0.8 top-p=0.9"`` (``""``: the preset's sampler as it is)."""
        parts = [f"T={self.temperature:g}"] if self.temperature is not None else []
        return " ".join(parts + ([f"top-p={self.top_p:g}"] if self.top_p is not None else []))
