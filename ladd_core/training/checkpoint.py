"""Checkpoints: safetensors weights + JSON state, written atomically, verified on load.

Layout of ``RUN/checkpoints``::

    step-00001000/model.safetensors      weights
    step-00001000/ema.safetensors        EMA weights
    step-00001000/optimizer.safetensors  optimiser tensors (param-group metadata in state.json)
    step-00001000/rng.safetensors        generator states
    step-00001000/state.json             step, stage, data position, sha256 of every file
    latest                               name of the newest complete checkpoint

A checkpoint directory is written under a temporary name and renamed when
complete; ``latest`` is replaced atomically afterwards, so a crash at any point
leaves the previous checkpoint as ``latest``.  Loading never unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = [
    "CheckpointError",
    "TrainState",
    "atomic_write_text",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or incompatible."""


@dataclass
class TrainState:
    """Everything besides weights needed to resume exactly.

    Attributes:
        step: optimiser steps done.
        stage: training stage (1-based).
        epoch: data epoch of the next batch.
        batch_index: index within the epoch of the next batch.
        extra: free-form JSON-able values (e.g. last loss).
    """

    step: int = 0
    stage: int = 1
    epoch: int = 0
    batch_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    st: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        pid, k = key.split(".", 1)
        st.setdefault(int(pid), {})[k] = v
    for pid, extra in meta.get("scalars", {}).items():
        st.setdefault(int(pid), {}).update(extra)
    return {"state": st, "param_groups": meta["param_groups"]}


def _tensors(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in d.items()}


def save_checkpoint(
    ckpt_root: Path,
    *,
    model_state: dict[str, torch.Tensor],
    ema_state: dict[str, torch.Tensor] | None,
    optimizer_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    rng_states: dict[str, torch.Tensor],
    train_state: TrainState,
    keep: int = 2,
) -> Path:
    """Write a complete checkpoint atomically and point ``latest`` at it; keep the newest ``keep``."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step-{train_state.step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=ckpt_root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        opt_tensors, opt_meta = _flatten_optimizer(optimizer_state)
        files = {
            "model.safetensors": _tensors(model_state),
            "optimizer.safetensors": opt_tensors,
            "rng.safetensors": _tensors(rng_states),
        }
        if ema_state is not None:
            files["ema.safetensors"] = _tensors(ema_state)
        for fname, tensors in files.items():
            save_file(tensors, str(tmp / fname))
        meta = {
            "format_version": FORMAT_VERSION,
            "train_state": train_state.__dict__,
            "optimizer": opt_meta,
            "scheduler": scheduler_state,
            "sha256": {f: _sha256(tmp / f) for f in files},
        }
        (tmp / "state.json").write_text(json.dumps(meta, default=_json_default), encoding="utf-8")
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(ckpt_root / "latest", final.name + "\n")
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir() and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _json_default(o: Any) -> Any:
    if torch.is_tensor(o):
        return o.item() if o.numel() == 1 else o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The directory ``latest`` points to, or ``None`` when there is no checkpoint yet."""
    pointer = ckpt_root / "latest"
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    path = ckpt_root / name
    if not name or not path.is_dir():
        raise CheckpointError(f"{pointer} points to {name!r}, which is not a checkpoint directory")
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and verify a checkpoint directory.

    Returns:
        dict with ``model``, ``ema`` (or ``None``), ``optimizer``, ``scheduler``, ``rng`` and ``train_state``.

    Raises:
        CheckpointError: missing files, checksum mismatch, truncated or unreadable tensors.
    """
    state_file = path / "state.json"
    try:
        meta = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no state.json: not a complete checkpoint") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{state_file} is corrupt: {exc}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format {meta.get('format_version')!r}")
    loaded: dict[str, dict[str, torch.Tensor]] = {}
    for fname, digest in meta["sha256"].items():
        f = path / fname
        if not f.exists():
            raise CheckpointError(f"{path} is incomplete: {fname} is missing")
        if _sha256(f) != digest:
            raise CheckpointError(f"{f} is corrupt or truncated (checksum mismatch)")
        try:
            loaded[fname] = load_file(str(f))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{f} cannot be read: {exc}") from None
    return {
        "model": loaded["model.safetensors"],
        "ema": loaded.get("ema.safetensors"),
        "optimizer": _unflatten_optimizer(loaded["optimizer.safetensors"], meta["optimizer"]),
        "scheduler": meta["scheduler"],
        "rng": loaded["rng.safetensors"],
        "train_state": TrainState(**meta["train_state"]),
    }
