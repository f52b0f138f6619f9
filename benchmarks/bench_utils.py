"""Timing, hardware description, peak memory and the docs writer shared by the benchmarks.

Every comparison is *interleaved*: variants run in turns (A B C, then C B A, ...) and each
reports the median over its turns, so drifting load on a shared machine hits all variants
alike instead of whichever happened to run last.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "PeakRSS",
    "Timing",
    "count_cpu_attention_flops",
    "hardware",
    "interleaved",
    "matmul_peak",
    "md_table",
    "rss_mib",
    "sync",
    "write_section",
]


def sync(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Seconds per call of one variant over its turns.

    Attributes:
        per_turn: mean seconds per call in each turn.
    """

    per_turn: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_turn)

    @property
    def spread(self) -> float:
        """(max - min) / median over turns: how noisy the measurement was."""
        return (max(self.per_turn) - min(self.per_turn)) / self.median if self.per_turn else 0.0


def interleaved(
    variants: dict[str, Callable[[], object]],
    *,
    calls: int,
    turns: int,
    warmup: int,
    device: torch.device,
) -> dict[str, Timing]:
    """Time each variant for ``turns`` turns of ``calls`` calls, alternating the order every turn.

    Args:
        variants: name -> a zero-argument callable doing one unit of work (e.g. one training step).
        calls: calls per turn.
        turns: turns per variant (the median is over these).
        warmup: untimed calls per variant before the first turn.
        device: synchronised before and after each turn.
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    sync(device)
    out: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for turn in range(turns):
        order = names if turn % 2 == 0 else names[::-1]
        for name in order:
            fn = variants[name]
            sync(device)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            sync(device)
            out[name].append((time.perf_counter() - t0) / calls)
    return {k: Timing(v) for k, v in out.items()}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 7) -> float:
    """Best dense matmul throughput in FLOP/s over ``repeats``: the machine's practical peak."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up (kernel selection, page faults)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRSS:
    """Highest RSS seen while the ``with`` block runs (sampled by a thread every ``interval`` s).

    ``ru_maxrss`` is useless here: it keeps the import-time peak of the whole process.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, rss_mib())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak_mib = rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, rss_mib())


def count_cpu_attention_flops() -> None:
    """Teach :class:`~torch.utils.flop_counter.FlopCounterMode` the CPU flash-attention kernels (uncounted)."""
    from torch.utils import flop_counter as fc

    aten = torch.ops.aten
    pairs = (
        ("_scaled_dot_product_flash_attention_for_cpu", fc.sdpa_flop),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", fc.sdpa_backward_flop),
    )
    for op, formula in pairs:
        target = getattr(aten, op, None)
        if target is not None and target not in fc.flop_registry and target.default not in fc.flop_registry:
            fc.register_flop_formula(target, get_raw=True)(formula)  # formula: already shape-wrapped


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else platform.machine()


def hardware(device: torch.device) -> dict[str, str]:
    """What the numbers were measured on."""
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load average (1 min) at start": f"{os.getloadavg()[0]:.1f}",
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
_SECTION_INTRO = """## Speed

How fast a `ladd` training step is compared with a hand-written PyTorch loop of the same network, what
Co-LADD and Di-LADD cost per step relative to MDLM, how much of the machine's matmul throughput a step
uses, what sampling costs beyond its network calls, and peak memory.

Run: `nox -s bench-speed` (add `-- --quick` for a run of a few minutes), or directly
`python benchmarks/speed.py [--quick] [--threads 2] [--device cuda --precision bf16 --attention xformers]`.
On a CUDA machine `bash benchmarks/gpu_check.sh` runs the CUDA tests, a 1-process FSDP smoke run and the
benchmark in bf16 (< 5 min).

What is measured (every comparison side by side in one process, variants interleaved A B C / C B A ...,
medians over turns, the spread (max - min) / median in brackets):

- **Framework overhead**: tokens/s of `Trainer.train_step` (data fetch, micro-batch chunking and seeding,
  loss, NaN checks, clipping, AdamW, EMA, bookkeeping) against `benchmarks/minimal_mdlm.py`, a plain loop
  training a copy of the same DiT (same kernels, same batch). Sizes are the reference yardsticks: d=64,
  4 layers, L=128, B=64, V=2 (sawtooth) and d=256, 6 layers, L=256, B=16, V=256 (random tokens).
  Target: overhead ≤ 3 %.
- **Latent channels**: ms per training step of the `sawtooth-coladd` (`gaussian`) and `sawtooth-diladd`
  (`vq`) presets, their MM-DiT width chosen so its parameters match the MDLM DiT (the encoder and the
  latent denoiser come on top), in stage 1 and in stage 2 (Co-LADD: frozen encoder, latent denoiser
  trained; Di-LADD with `target: sequential`: the extra all-mask call for the code loss), as a ratio to
  MDLM. Target ≤ 1.25×.
- **MFU**: FLOPs of one step (fwd + bwd, `torch.utils.flop_counter`, CPU flash attention included)
  divided by the step time, as a fraction of the best dense matmul throughput measured on the same
  threads and dtype.
- **Sampling**: wall time of the ancestral sampler against NFE × the time of one network call (the rest is
  sampler overhead: float64 categorical draws, masking), and the calls that caching skips for a
  time-independent DiT.
- **Peak memory**: a fresh process builds the run and takes 3 steps; CPU: highest RSS sampled during the
  steps and its rise over the built run; CUDA: `max_memory_allocated`.

Scale-out is not benchmarked here: `torchrun --nproc_per_node=N $(which ladd) train ...` runs DDP (gloo on
CPU, NCCL on GPU; `train.fsdp=true` for FSDP2), `train.batch_size` is the global batch and
`train.micro_batch_size` sets gradient accumulation; `train.precision=bf16` and `train.compile=true`
are the single-device speed switches.

"""


def write_section(doc: Path, body: str) -> None:
    """Put ``body`` between the speed markers of ``doc`` (creating the file or the ``## Speed`` section)."""
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    if not doc.exists():
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(f"# Benchmarks\n\n{_SECTION_INTRO}{block}\n", encoding="utf-8")
        return
    text = doc.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + _SECTION_INTRO + block + "\n"
    doc.write_text(text, encoding="utf-8")
