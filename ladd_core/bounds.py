"""Bounds checked before anything is allocated: sampling steps, infilling holes, model and data sizes.

The limits come from what the machine can hold (``MemAvailable`` of ``/proc/meminfo``, or the
free memory of the CUDA device) and from the model's own length; a request beyond them is a
:class:`~ladd_core.config.errors.ConfigError` naming the option, raised before any tensor, file or
directory is made.  The estimates are deliberately generous lower bounds of what the work needs,
so a refused request could not have run; an accepted one may still be slow.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from ladd_core.config.errors import ConfigError

__all__ = [
    "GRID_BYTES_PER_STEP",
    "MEMORY_SHARE",
    "available_bytes",
    "check_memory",
    "check_sampling_steps",
    "check_training_size",
    "model_bytes",
]

MEMORY_SHARE = 0.5
"""The share of the available memory one request may plan to use."""

GRID_BYTES_PER_STEP = 64
"""Bytes a sampler keeps per step: the float64 time grid and the per-step schedule values derived from it."""


def available_bytes(device: str | torch.device = "cpu") -> int:
    """Memory the process can still use on ``device`` (CUDA: free device memory; else ``MemAvailable``)."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no way to know: assume 4 GiB
        return 4 * 2**30


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_memory(need: float, what: str, option: str, device: str | torch.device = "cpu") -> None:
    """Refuse ``need`` bytes when they exceed :data:`MEMORY_SHARE` of the available memory.

    Raises:
        ConfigError: at ``option``, with the estimate and what is available.
    """
    have = available_bytes(device)
    if not math.isfinite(need) or need > MEMORY_SHARE * have:
        msg = f"{what} needs about {_gib(need)}; this machine has {_gib(have)} available"
        raise ConfigError([(option, f"{msg} (bound: {MEMORY_SHARE:.0%} of it); use a smaller value")])


def check_sampling_steps(steps: Any, latent_steps: Any, device: str | torch.device = "cpu") -> None:
    """Token and latent steps must be positive integers whose schedule grids fit in memory.

    Raises:
        ConfigError: at ``--steps`` / ``--latent-steps``.
    """
    for option, value in (("--steps", steps), ("--latent-steps", latent_steps)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError([(option, f"must be a positive integer, got {value!r}")])
        if value < 1:
            raise ConfigError([(option, f"must be positive, got {value}")])
        check_memory((value + 1) * GRID_BYTES_PER_STEP, f"{option} {value} (its schedule grid)", option, device)


def _field(section: Any, name: str, default: int = 0) -> int:
    value = getattr(section, name, default)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers as they would be allocated (works on the ``meta`` device)."""
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        total += t.numel() * t.element_size()
    return total


def check_training_size(cfg: Any, device: str | torch.device = "cpu") -> None:
    """Refuse a config whose data or per-step activations cannot fit, before the data is made.

    The data source holds ``(train_size + val_size) x seq_len`` int64 ids; one step keeps at least
    ``batch x seq_len x hidden x layers`` float32 activations (times 16 for the block's projections and
    their gradients) and one ``batch x heads x seq_len^2`` attention map.

    Raises:
        ConfigError: at ``data.seq_len`` (data) or ``model.backbone.hidden`` (activations).
    """
    data, bb, tr = cfg.data, getattr(cfg.model, "backbone", None), cfg.train
    seq_len = _field(data, "seq_len")
    rows = _field(data, "train_size") + _field(data, "val_size")
    check_memory(8.0 * rows * seq_len, f"data.seq_len {seq_len} x {rows} rows (the token data)", "data.seq_len", device)
    batch = _field(tr, "micro_batch_size") or _field(tr, "batch_size", 1)
    hidden, layers, heads = _field(bb, "hidden", 1), _field(bb, "layers", 1), _field(bb, "heads", 1)
    acts = 4.0 * batch * seq_len * (16 * hidden * max(layers, 1) + heads * seq_len)
    check_memory(acts, f"one training step (batch {batch}, length {seq_len}, width {hidden})", "model.backbone.hidden",
                 device)  # fmt: skip


def check_model(
    build: Any, copies: int, option: str = "model.backbone.hidden", device: str | torch.device = "cpu"
) -> None:
    """Build the model on the ``meta`` device (no memory) and refuse it when ``copies`` of it cannot fit.

    ``copies``: 5 to train (weights, gradients, two AdamW moments, EMA), 3 to load a checkpoint.

    Raises:
        ConfigError: at ``option``, with the parameter count.
    """
    with torch.device("meta"):
        model = build()
    size = model_bytes(model)
    params = sum(p.numel() for p in model.parameters())
    check_memory(float(size) * copies, f"a model of {params:,} parameters ({copies} copies)", option, device)
