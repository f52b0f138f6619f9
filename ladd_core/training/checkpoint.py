"""Checkpoints: safetensors weights + JSON state, written atomically, verified on load.

Layout of ``RUN/checkpoints``::

    step-00001000/model.safetensors      weights
    step-00001000/ema.safetensors        EMA weights
    step-00001000/optimizer.safetensors  optimiser tensors (param-group metadata in state.json)
    step-00001000/rng.safetensors        generator states
    step-00001000/state.json             schema version, step, stage, data position, sha256 of every file
    latest                               name of the newest complete checkpoint

A checkpoint directory is written under a temporary name and renamed when
complete; ``latest`` is replaced atomically afterwards, so a crash at any point
leaves the previous checkpoint as ``latest``.  Loading never unpickles and trusts
nothing in ``state.json``: its keys are checked, every file the checkpoint must
have is required and checksum-verified.  :func:`find_checkpoints` scans the
directory itself, so a lost or damaged ``latest`` loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = [
    "CheckpointError",
    "TrainState",
    "atomic_write_text",
    "find_checkpoints",
    "latest_checkpoint",
    "load_checkpoint",
    "load_newest_valid",
    "save_checkpoint",
    "write_safetensors",
]

FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
CKPT_NAME = re.compile(r"^step-\d{8,}$")
REQUIRED_FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors")
EMA_FILE = "ema.safetensors"
_STATE_KEYS = {"format_version", "train_state", "optimizer", "scheduler", "sha256"}
_STATE_KEYS_V2 = _STATE_KEYS | {"has_ema"}


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


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would (``mkstemp``/``mkdtemp`` use 0600/0700)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (mode from the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        honour_umask(Path(tmp))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """``save_file`` whose failures (a full disk: ``os error 28``) are an ``OSError`` naming ``path``."""
    try:
        save_file(tensors, str(path))
    except SafetensorError as exc:
        raise OSError(f"cannot write {path}: {' '.join(str(exc).split())}") from None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
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
        honour_umask(tmp, directory=True)
        opt_tensors, opt_meta = _flatten_optimizer(optimizer_state)
        files = {
            "model.safetensors": _tensors(model_state),
            "optimizer.safetensors": opt_tensors,
            "rng.safetensors": _tensors(rng_states),
        }
        if ema_state is not None:
            files["ema.safetensors"] = _tensors(ema_state)
        for fname, tensors in files.items():
            write_safetensors(tensors, tmp / fname)
        meta = {
            "format_version": FORMAT_VERSION,
            "has_ema": ema_state is not None,
            "train_state": train_state.__dict__,
            "optimizer": opt_meta,
            "scheduler": scheduler_state,
            "sha256": {f: sha256_file(tmp / f) for f in files},
        }
        (tmp / "state.json").write_text(json.dumps(meta, default=_json_default), encoding="utf-8")
        for f in tmp.iterdir():
            honour_umask(f)
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(ckpt_root / "latest", final.name + "\n")
    old = [p for p in find_checkpoints(ckpt_root) if p != final][::-1]  # oldest first
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _json_default(o: Any) -> Any:
    if torch.is_tensor(o):
        return o.item() if o.numel() == 1 else o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _step_of(name: str) -> int:
    return int(name.split("-", 1)[1])


def find_checkpoints(ckpt_root: Path) -> list[Path]:
    """Complete-looking checkpoint directories (``step-NNNNNNNN``) under ``ckpt_root``, newest first."""
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if CKPT_NAME.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: _step_of(p.name), reverse=True)


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The directory ``latest`` points to, or ``None`` when there is no pointer.

    Raises:
        CheckpointError: the pointer names anything but a ``step-N`` directory inside ``ckpt_root``.
    """
    pointer = ckpt_root / "latest"
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{pointer} cannot be read: {exc}") from None
    path = ckpt_root / name
    if not CKPT_NAME.match(name):
        raise CheckpointError(f"{pointer} points to {name!r}, which is not a checkpoint name inside {ckpt_root}")
    if not path.is_dir():
        raise CheckpointError(f"{pointer} points to {name!r}, which is not a checkpoint directory")
    return path


def load_newest_valid(
    ckpt_root: Path, warn: Callable[[str], None], skipped: list[Path] | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest checkpoint that verifies, scanning ``ckpt_root`` (not only ``latest``).

    A corrupt or incomplete newer checkpoint is reported through ``warn`` and skipped
    (and appended to ``skipped``); a missing or stale ``latest`` pointer is reported too.

    Returns:
        ``(path, loaded checkpoint)`` or ``None`` when there is no checkpoint at all.

    Raises:
        CheckpointError: checkpoints exist but none of them verifies.
    """
    candidates = find_checkpoints(ckpt_root)
    if not candidates:
        return None
    try:
        pointed = latest_checkpoint(ckpt_root)
    except CheckpointError as exc:
        warn(f"warning: {exc}; ignoring it")
        pointed = None
    errors = []
    for path in candidates:
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            warn(f"warning: skipping checkpoint {path.name}: {exc}")
            if skipped is not None:
                skipped.append(path)
            continue
        if pointed is None or pointed != path:
            why = "missing" if pointed is None else f"pointing to {pointed.name}"
            warn(f"note: 'latest' is {why}; using {path.name}, the newest checkpoint that verifies")
        return path, loaded
    raise CheckpointError(f"no checkpoint in {ckpt_root} verifies ({'; '.join(errors)})")


def _check_meta(path: Path, meta: Any) -> tuple[int, list[str]]:
    """Validate the keys of ``state.json``; returns ``(version, files the checkpoint must have)``."""
    where = path / "state.json"
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} is corrupt: expected a JSON object")
    version = meta.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(
            f"{path}: unsupported checkpoint format {version!r} (this ladd reads {list(SUPPORTED_VERSIONS)})"
        )
    want = _STATE_KEYS if version == 1 else _STATE_KEYS_V2
    missing, extra = sorted(want - meta.keys()), sorted(meta.keys() - want)
    if missing or extra:
        raise CheckpointError(f"{where} is corrupt: missing keys {missing}, unexpected keys {extra}")
    has_ema = True if version == 1 else meta["has_ema"]  # version 1 was always written with EMA weights
    if not isinstance(has_ema, bool) or not isinstance(meta["sha256"], dict):
        raise CheckpointError(f"{where} is corrupt: 'has_ema' must be a bool and 'sha256' an object")
    files = [*REQUIRED_FILES, *([EMA_FILE] if has_ema else [])]
    absent, unknown = sorted(set(files) - meta["sha256"].keys()), sorted(meta["sha256"].keys() - set(files))
    if absent or unknown:
        raise CheckpointError(f"{where} is corrupt: checksums missing for {absent}, unexpected entries {unknown}")
    ts, names = meta["train_state"], {f.name for f in dc_fields(TrainState)}
    if not isinstance(ts, dict) or set(ts) != names:
        got = sorted(ts) if isinstance(ts, dict) else type(ts).__name__
        raise CheckpointError(f"{where} is corrupt: train_state must have keys {sorted(names)}, got {got}")
    if not all(isinstance(ts[k], int) and ts[k] >= 0 for k in ("step", "stage", "epoch", "batch_index")):
        raise CheckpointError(f"{where} is corrupt: train_state counters must be non-negative integers")
    opt = meta["optimizer"]
    if not isinstance(opt, dict) or not isinstance(opt.get("param_groups"), list):
        raise CheckpointError(f"{where} is corrupt: 'optimizer' lacks its param_groups")
    return version, files


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and verify a checkpoint directory.

    Returns:
        dict with ``model``, ``ema`` (or ``None``), ``optimizer``, ``scheduler``, ``rng`` and ``train_state``.

    Raises:
        CheckpointError: missing files, unexpected or missing ``state.json`` keys, checksum mismatch,
            truncated or unreadable tensors.
    """
    state_file = path / "state.json"
    try:
        meta = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no state.json: not a complete checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{state_file} is corrupt: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"{state_file} cannot be read: {exc}") from None
    _, files = _check_meta(path, meta)
    loaded: dict[str, dict[str, torch.Tensor]] = {}
    for fname in files:
        f = path / fname
        if not f.is_file():
            raise CheckpointError(f"{path} is incomplete: {fname} is missing")
        if sha256_file(f) != meta["sha256"][fname]:
            raise CheckpointError(f"{f} is corrupt or truncated (checksum mismatch)")
        try:
            loaded[fname] = load_file(str(f))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{f} cannot be read: {exc}") from None
    try:
        optimizer = _unflatten_optimizer(loaded["optimizer.safetensors"], meta["optimizer"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{state_file} is corrupt: optimizer state does not match its tensors ({exc})") from None
    return {
        "model": loaded["model.safetensors"],
        "ema": loaded.get(EMA_FILE),
        "optimizer": optimizer,
        "scheduler": meta["scheduler"],
        "rng": loaded["rng.safetensors"],
        "train_state": TrainState(**meta["train_state"]),
    }
