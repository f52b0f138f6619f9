"""Sampling speed: every registered sampler's time vs NFE x the network calls it makes.

For each sampler on each model it is valid for (the sawtooth MDLM for token-only samplers, the sawtooth
Co-LADD and Di-LADD presets' models for the latent ones; random init: speed does not depend on the
weights), ``sampler.sample`` is timed at each ``N`` and batch size ``B``, and divided by the sum over the
networks (the token backbone, the latent denoiser where there is one) of calls made x the time of one
call.  Calls are counted by wrapping each network's ``forward``; one call of each network is timed with
the inputs of its last call in the chain.  The sample and the single calls are timed interleaved,
alternating the order every turn; the figures are medians over turns and the spread is that of the
per-turn ratio.  "Sampler alone" times the same chain with every network replaced by its recorded output (so
only the sampler's own work is left), as a share of NFE x one call: the overhead measured directly, which a
busy machine disturbs less than the difference of two large times.  "In-chain overhead" times a real sample
and, inside the same run, each network call (bracketed by a device sync): the sample's wall time over the time
spent in its own calls, minus 1.  Both times come from one run, so turn-to-turn noise of the machine cancels;
what a call costs more inside the chain than alone (caches the sampler's work evicts) counts as the call's.
"Outside the calls" is the same run's time not spent in a network call, per call, in microseconds.

Next to ``ancestral`` on the MDLM preset, a **reference** row times the loop one writes without the framework
(:func:`minimal_mdlm.minimal_ancestral`: MDLM's float64 Gumbel-max step, N + 1 calls of the same network) the same
way: what a sampling step costs at that size on this machine whatever the code around it.

Usage (standalone; ``speed.py --only sampling`` runs the same with its budget)::

    python benchmarks/sampling_speed.py [--steps 16 64 256] [--batch 4 64] [--turns 5] [--clock wall|cpu]
                                        [--samplers ancestral ...] [--presets sawtooth-mdlm ...]
                                        [--vocab 2] [--seq-len 128]

``--clock cpu`` times with ``time.process_time`` (one thread), which a machine shared with other jobs
disturbs less than wall time; the ratio is the same quantity.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from bench_utils import md_table, sync
from minimal_mdlm import minimal_ancestral

from ladd_core.build import build_model
from ladd_core.components.samplers import Sampler
from ladd_core.config.capabilities import model_capabilities
from ladd_core.config.experiment import validate_config
from ladd_core.config.loading import load_config_source
from ladd_core.model import LaddModel
from ladd_core.plugins import Components, load_plugins

PRESETS = ("sawtooth-mdlm", "sawtooth-coladd", "sawtooth-diladd", "markov-coladd", "markov-diladd")
VOCAB, SEQ_LEN = 2, 128  # the sawtooth
HEADER = ["model", "sampler", "B", "N", "NFE (calls per network)", "s / sample", "NFE × one call, s", "overhead",
          "sampler alone", "in-chain overhead", "outside the calls, µs / call"]  # fmt: skip


@dataclass
class CallCounter:
    """Counts calls of one network and keeps the inputs of the last call (to time one call alone).

    With ``clock`` set, it also adds up the time spent inside the network's calls (``seconds``), each call
    bracketed by a device sync: the network's share of a chain, measured inside that same chain.
    """

    net: torch.nn.Module
    calls: int = 0
    last: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
    output: Any = None
    clock: Callable[[], float] | None = None
    seconds: float = 0.0
    _forward: Callable[..., Any] | None = field(default=None, repr=False)

    def __enter__(self) -> CallCounter:
        self._forward = self.net.forward
        clock, device = self.clock, next(self.net.parameters()).device  # read once, not per call

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.last = (args, kwargs)
            if clock is not None:
                sync(device)
                t0 = clock()
            self.output = self._forward(*args, **kwargs)  # type: ignore[misc]
            if clock is not None:
                sync(device)
                self.seconds += clock() - t0
            return self.output

        self.net.forward = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.net.forward  # the instance attribute; the class's forward shows through again

    @contextlib.contextmanager
    def stubbed(self) -> Iterator[None]:
        """Inside, the network returns its recorded last output at once: a chain then costs the sampler alone."""
        self.net.forward = lambda *args, **kwargs: self.output  # type: ignore[method-assign]
        try:
            yield
        finally:
            del self.net.forward

    def replay(self) -> Any:
        """One call with the recorded inputs (the real forward, not counted)."""
        args, kwargs = self.last
        return self._forward(*args, **kwargs)  # type: ignore[misc]


def build(
    comps: Components, preset: str, device: torch.device, vocab: int = VOCAB, seq_len: int = SEQ_LEN
) -> LaddModel:
    """The preset's model at random init on the sawtooth's vocabulary and length (or those given), in eval mode."""
    cfg = validate_config(load_config_source(preset, comps), comps, source=preset)
    torch.manual_seed(0)
    return build_model(cfg, comps, vocab_size=vocab, seq_len=seq_len).to(device).eval()


def cases(comps: Components, presets: tuple[str, ...], samplers: list[str] | None) -> list[tuple[str, str, str | None]]:
    """``(preset, sampler, latent_mode)`` for every sampler and latent mode a preset's model runs.

    A sampler with a ``latent_mode`` field is taken in each mode the model offers; a (sampler, mode) pair is
    measured on the first preset of each family (``-mdlm``, ``-coladd``, ``-diladd``) that runs it (the
    sawtooth latent presets are sequential-only, so ``joint`` comes from the markov ones).
    """
    names = samplers or [name for name, _ in comps.registry("sampler").items()]
    out, seen = [], set()
    for preset in presets:
        have = model_capabilities(validate_config(load_config_source(preset, comps), comps, source=preset), comps)
        for name in names:
            cls = comps.get("sampler", name)
            modes = ("none", "sequential", "joint") if "latent_mode" in cls.Config.model_fields else (None,)
            for mode in modes:
                cfg = cls.Config() if mode is None else cls.Config(latent_mode=mode)
                key = (name, mode, preset.rsplit("-", 1)[-1])
                if cls.requires_for(cfg) <= have and key not in seen:
                    seen.add(key)
                    out.append((preset, name, mode))
    return out


REFERENCE = "hand-written ancestral (reference)"


@dataclass
class HandWritten:
    """:func:`minimal_mdlm.minimal_ancestral` with a sampler's ``sample`` signature: the same network, the loop one
    writes without the framework (MDLM's float64 Gumbel-max step), timed the same way as the samplers."""

    steps: int

    def sample(self, model: LaddModel, num_samples: int, *, generator: torch.Generator) -> torch.Tensor:
        return minimal_ancestral(
            model.backbone, model.process.mask_id, num_samples, model.seq_len, self.steps, generator
        )


def make_sampler(comps: Components, name: str, steps: int, mode: str | None = None) -> Sampler:
    """The sampler's default config at ``steps`` (in latent ``mode``) with caching off (NFE the same every run)."""
    cls = comps.get("sampler", name)
    extra: dict[str, Any] = {"cache": False} if "cache" in cls.Config.model_fields else {}
    if mode is not None:
        extra["latent_mode"] = mode
    return cls(cls.Config(steps=steps, **extra))


def measure(
    model: LaddModel,
    sampler: Sampler | HandWritten,
    batch: int,
    *,
    turns: int,
    clock: Callable[[], float],
    device: torch.device,
) -> dict[str, Any]:
    """Per-turn times of one sample and of one call of each network, interleaved; their medians and the ratio."""
    nets = {"token": model.backbone}
    if model.latent_denoiser is not None:
        nets["latent"] = model.latent_denoiser
    counters = {k: CallCounter(n) for k, n in nets.items()}
    for c in counters.values():
        c.__enter__()
    try:
        sampler.sample(model, batch, generator=torch.Generator(device=device).manual_seed(0))  # warm-up, counts
    finally:
        for c in counters.values():
            c.__exit__()
    calls = {k: c.calls for k, c in counters.items() if c.calls}

    def timed(fn: Callable[[], object], reps: int = 1) -> float:
        sync(device)
        t0 = clock()
        for _ in range(reps):
            fn()
        sync(device)
        return (clock() - t0) / reps

    def sample() -> object:
        return sampler.sample(model, batch, generator=torch.Generator(device=device).manual_seed(0))

    def alone() -> object:
        with contextlib.ExitStack() as stack:
            for k in calls:
                stack.enter_context(counters[k].stubbed())
            return sample()

    in_chain: list[float] = []
    outside: list[float] = []

    def sample_in_chain() -> object:
        """The sample with each network call timed inside it; appends (sample time / time in the calls) - 1, and
        the time outside the calls per call (an absolute figure, which a faster network does not inflate)."""
        with contextlib.ExitStack() as stack:
            for k in calls:
                counters[k].clock, counters[k].seconds = clock, 0.0
                stack.callback(setattr, counters[k], "clock", None)  # the other variants' calls stay untimed
                stack.enter_context(counters[k])
            sync(device)
            t0 = clock()
            out = sample()
            sync(device)
            total = clock() - t0
        inside = sum(counters[k].seconds for k in calls)
        in_chain.append(total / inside - 1)
        outside.append((total - inside) / sum(calls.values()))
        return out

    variants: dict[str, tuple[Callable[[], object], int]] = {
        "sample": (sample, 1), "alone": (alone, 3), "in_chain": (sample_in_chain, 1)}  # fmt: skip
    variants.update({k: (counters[k].replay, 5) for k in calls})
    per_turn: dict[str, list[float]] = {k: [] for k in variants}
    with torch.no_grad():
        for k in calls:
            counters[k].replay()  # warm-up
        for turn in range(turns):
            order = list(variants) if turn % 2 == 0 else list(variants)[::-1]
            for k in order:
                per_turn[k].append(timed(*variants[k]))
    ratios = [per_turn["sample"][i] / sum(calls[k] * per_turn[k][i] for k in calls) for i in range(turns)]
    med = {k: statistics.median(v) for k, v in per_turn.items()}
    ideal = sum(calls[k] * med[k] for k in calls)
    return {"calls": calls, "sample": med["sample"], "one_call": med, "ideal": ideal, "alone": med["alone"] / ideal,
            "overhead": med["sample"] / ideal - 1, "spread": max(ratios) - min(ratios),
            "in_chain": statistics.median(in_chain), "outside": statistics.median(outside)}  # fmt: skip


def sampling_rows(
    comps: Components,
    *,
    steps: list[int],
    batches: list[int],
    turns: int,
    clock: Callable[[], float] = time.perf_counter,
    device: torch.device | None = None,
    presets: tuple[str, ...] = PRESETS,
    samplers: list[str] | None = None,
    log: Callable[[str], None] = print,
    vocab: int = VOCAB,
    seq_len: int = SEQ_LEN,
) -> list[list[str]]:
    """One table row per (model, sampler, B, N)."""
    device = device or torch.device("cpu")
    rows, models = [], {}
    todo: list[tuple[str, str, str | None]] = []
    for preset, name, mode in cases(comps, presets, samplers):
        todo.append((preset, name, mode))
        if name == "ancestral" and preset.endswith("-mdlm"):
            todo.append((preset, REFERENCE, None))  # the hand-written yardstick next to the framework's ancestral
    for preset, name, mode in todo:
        if preset not in models:
            models[preset] = build(comps, preset, device, vocab, seq_len)
        for b in batches:
            for n in steps:
                label = name if mode is None else f"{name} ({mode})"
                log(f"sampling speed: {preset} {label} B={b} N={n}")
                sampler = HandWritten(n) if name == REFERENCE else make_sampler(comps, name, n, mode)
                r = measure(models[preset], sampler, b, turns=turns, clock=clock, device=device)
                calls = " + ".join(f"{v} {k}" for k, v in r["calls"].items())
                one = " + ".join(f"{r['calls'][k]} × {r['one_call'][k] * 1e3:.2f} ms" for k in r["calls"])
                over = f"{r['overhead']:+.1%} (±{r['spread'] / 2:.1%})"
                alone = f"{r['alone']:.1%}"
                ideal = f"{one} = {r['ideal']:.3f}"
                in_chain, outside = f"{r['in_chain']:+.1%}", f"{r['outside'] * 1e6:.0f}"
                rows.append([preset, label, str(b), str(n), calls, f"{r['sample']:.3f}", ideal, over, alone, in_chain,
                             outside])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--batch", type=int, nargs="+", default=[4, 64])
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--samplers", nargs="+", default=None, help="default: every registered sampler")
    p.add_argument("--vocab", type=int, default=VOCAB, help="vocabulary of the models (default: the sawtooth's)")
    p.add_argument("--seq-len", type=int, default=SEQ_LEN, help="sequence length (default: the sawtooth's)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = sampling_rows(
        load_plugins(),
        steps=args.steps,
        batches=args.batch,
        turns=args.turns,
        clock=clock,
        device=torch.device(args.device),
        presets=tuple(args.presets),
        samplers=args.samplers,
        log=log,
        vocab=args.vocab,
        seq_len=args.seq_len,
    )
    print(md_table(HEADER, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
