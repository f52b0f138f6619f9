"""Run directories: saved configs, tokenizer fingerprints, devices, and loading a trained run for sampling."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import ladd_core
from ladd_core.bounds import check_model, check_training_size
from ladd_core.components.data import DataSource
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.training.checkpoint import CheckpointError, atomic_write_text, find_checkpoints, load_newest_valid
from ladd_core.training.portable import check_export_record, check_plugins, is_export_record, read_export_weights
from ladd_core.training.resume_rules import config_diff, format_changes, is_safe

__all__ = [
    "CONFIG_FILE",
    "LoadedRun",
    "check_run_dir",
    "check_tokenizer_present",
    "config_hash",
    "load_run",
    "load_weights",
    "model_for_data",
    "open_run",
    "read_run_record",
    "record_source",
    "record_tokenizer",
    "resolve_device",
    "save_run_config",
    "tokenizer_files",
    "tokenizer_fingerprint",
]

CONFIG_FILE = "config.json"
TOKENIZER_DIR = ("data", "tokenizer")


def resolve_device(name: str, field: str = "train.device") -> torch.device:
    """``"auto"`` picks CUDA when available; anything else must be a device torch knows and can use."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError([(field, f"unknown device {name!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'")]) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError([(field, f"{name!r} requested but CUDA is not available; use 'cpu' or 'auto'")])
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ConfigError([(field, f"device {name!r} cannot run ladd; use 'cpu', 'cuda', 'cuda:N' or 'auto'")])
    return dev


def config_hash(cfg: ExperimentConfig) -> str:
    """Short stable hash of a config (sorted JSON), for result tables."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def read_run_record(run_dir: Path) -> dict[str, Any] | None:
    """The parsed ``RUN/config.json`` (``None`` when there is none).

    Raises:
        CheckpointError: the file is unreadable, not JSON, or lacks its ``config`` mapping.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt or unreadable: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise CheckpointError(f"{path} is corrupt: expected an object with a 'config' mapping")
    return record


def save_run_config(
    run_dir: Path, cfg: ExperimentConfig, components: Components, extra: dict[str, Any] | None = None
) -> list[tuple[str, Any, Any]]:
    """Write ``RUN/config.json`` (config, versions); once a run has a checkpoint accept only resume-safe changes.

    Call it with the run's lock held.  Returns the accepted changes ``(path, old, new)``.

    Raises:
        ConfigError: the stored config differs in fields that cannot change on resume (all named).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    data = cfg.model_dump(mode="json")
    old = read_run_record(run_dir)
    changes = config_diff(old["config"], data) if old is not None else []
    started = bool(find_checkpoints(run_dir / "checkpoints"))  # before the first checkpoint nothing is at stake
    refused = [c for c in changes if not is_safe(c[0])] if started else []
    if refused:
        msg = (
            f"{run_dir} already holds a run with a different config: {format_changes(refused)} "
            "(cannot change on resume); use a new --out directory"
        )
        raise ConfigError([("<run>", msg)])
    keep = {k: v for k, v in (old or {}).items() if k in ("tokenizer", "source")}
    record = {
        "config": data,
        "config_hash": config_hash(cfg),
        "ladd_version": ladd_core.__version__,
        "torch_version": torch.__version__,
        "plugins": {p.name: p.version for p in components.plugins},
        **keep,
        **(extra or {}),
    }
    atomic_write_text(run_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
    return changes


def record_source(run_dir: Path, source: dict[str, Any]) -> None:
    """Store which preset or file (and its digest) the run's config came from (call under the run's lock)."""
    record = read_run_record(run_dir)
    if record is not None and record.get("source") != source:
        atomic_write_text(Path(run_dir) / CONFIG_FILE, json.dumps({**record, "source": source}, indent=2) + "\n")


def open_run(run_dir: Path, cfg: ExperimentConfig, components: Components, log: Callable[[str], None]) -> None:
    """Check the run's tokenizer is in place and record the config (rank 0, with the run's lock held)."""
    check_tokenizer_present(run_dir, components)
    changes = save_run_config(run_dir, cfg, components)
    if changes:
        log(f"resume: accepted config changes {format_changes(changes)}")


def tokenizer_fingerprint(data: DataSource) -> dict[str, Any]:
    """Vocabulary size and a checksum of every id's text: equal fingerprints decode ids identically."""
    tok = data.tokenizer
    h = hashlib.sha256()
    for i in range(tok.vocab_size):
        h.update(tok.decode([i]).encode("utf-8", "surrogatepass") + b"\x1f")
    return {"vocab_size": tok.vocab_size, "vocab_sha256": h.hexdigest(), "fitted": bool(tok.needs_fit)}


def tokenizer_files(components: Components) -> list[tuple[str, ...]]:
    """The file sets the registered tokenizers save (their ``files``), one tuple per tokenizer that has any."""
    sets = []
    for _, cls in components.registry("tokenizer").items():
        files = tuple(getattr(cls, "files", ()) or ())
        if files and files not in sets:
            sets.append(files)
    return sets


def _complete(tok_dir: Path, components: Components | None) -> bool:
    """Whether ``tok_dir`` holds some tokenizer's complete file set (any file when the sets are unknown)."""
    if not tok_dir.is_dir():
        return False
    sets = tokenizer_files(components) if components is not None else []
    if not sets:
        return any(tok_dir.iterdir())
    return any(all((tok_dir / name).is_file() for name in names) for names in sets)


def check_tokenizer_present(run_dir: Path, components: Components | None = None) -> None:
    """Refuse to go on when the run's fitted tokenizer is gone or incomplete (it would be refit silently).

    With ``components``, the folder must hold every file of one registered tokenizer's ``files``.
    """
    record = read_run_record(run_dir) or {}
    tok = record.get("tokenizer")
    tok_dir = Path(run_dir).joinpath(*TOKENIZER_DIR)
    if isinstance(tok, dict) and tok.get("fitted") and not _complete(tok_dir, components):
        raise CheckpointError(
            f"{tok_dir} is missing or incomplete: the run's fitted tokenizer is part of the run (vocabulary checksum "
            f"{str(tok.get('vocab_sha256'))[:12]}); restore it, it is never refit"
        )


def record_tokenizer(run_dir: Path, data: DataSource, write: bool = True) -> None:
    """Verify the tokenizer against the fingerprint in ``config.json``; store it first if there is none and ``write``.

    Raises:
        CheckpointError: the tokenizer now decodes ids differently from the one the run was trained with.
    """
    record = read_run_record(run_dir)
    if record is None:
        return
    old = record.get("tokenizer")
    if not isinstance(old, dict) and not write:
        return
    now = tokenizer_fingerprint(data)
    if isinstance(old, dict):
        if (old.get("vocab_size"), old.get("vocab_sha256")) != (now["vocab_size"], now["vocab_sha256"]):
            raise CheckpointError(
                f"{run_dir}: the tokenizer does not match the run's (vocabulary {old.get('vocab_size')} ids, "
                f"checksum {str(old.get('vocab_sha256'))[:12]}; now {now['vocab_size']} ids, "
                f"checksum {now['vocab_sha256'][:12]}); the same ids would decode to different text"
            )
        return
    atomic_write_text(Path(run_dir) / CONFIG_FILE, json.dumps({**record, "tokenizer": now}, indent=2) + "\n")


@dataclass
class LoadedRun:
    """A trained run ready to sample from.

    Attributes:
        cfg: its config.
        model: the model with EMA weights loaded, in eval mode.
        data: its data source (tokenizer restored).
        step: training step of the checkpoint.
        run_dir: where it lives.
    """

    cfg: ExperimentConfig
    model: LaddModel
    data: DataSource
    step: int
    run_dir: Path


def read_run_config(run_dir: Path, components: Components) -> ExperimentConfig:
    """The validated config saved in ``run_dir``."""
    record = read_run_record(run_dir)
    if record is None:
        raise ConfigError([("<run>", f"{run_dir} is not a ladd run (no {CONFIG_FILE}); train one with `ladd train`")])
    return validate_config(record["config"], components, source=str(Path(run_dir) / CONFIG_FILE))


def check_run_dir(run_dir: Path) -> None:
    """Cheap up-front check that ``run_dir`` is a trained run (config readable, a checkpoint present)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    record = read_run_record(run_dir)
    if record is None:
        raise ConfigError([("<run>", f"{run_dir} is not a ladd run (no {CONFIG_FILE}); train one with `ladd train`")])
    if is_export_record(record):  # an exported model directory: weights verified on load
        check_export_record(record, run_dir)
        return
    if not find_checkpoints(run_dir / "checkpoints"):
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train it first")


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], where: Path) -> None:
    """``model.load_state_dict`` with a one-line error when the config no longer matches the checkpoint."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{where} does not fit the run's config (changed model fields?): {detail}") from None


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_model_fits(
    cfg: ExperimentConfig, components: Components, data: DataSource, copies: int, device: str | torch.device
) -> None:
    """:func:`~ladd_core.bounds.check_model` on the model of ``cfg`` for ``data`` (built on the meta device).

    The data's lazy parts (a tokenizer, a fitted table) are made for real first: built inside the meta-device
    context they would hold meta tensors for the rest of the run.
    """
    _ = data.vocab_size
    check_model(lambda: model_for_data(cfg, components, data), copies=copies, device=device)


def model_for_data(cfg: ExperimentConfig, components: Components, data: DataSource) -> LaddModel:
    """The model of ``cfg`` sized for ``data``: its vocabulary, length, decoder and forbidden token ids."""
    from ladd_core.build import build_model

    return build_model(
        cfg,
        components,
        vocab_size=data.vocab_size,
        seq_len=data.seq_len,
        detokenize=data.tokenizer.decode,
        forbidden_ids=data.tokenizer.non_data_ids,
    )


def load_run(run_dir: Path, components: Components, device: str = "cpu", use_ema: bool = True) -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load its newest valid checkpoint (EMA weights by default)."""
    from ladd_core.build import build_data

    run_dir = Path(run_dir)
    record = read_run_record(run_dir) or {}
    exported = is_export_record(record)
    if exported:
        check_export_record(record, run_dir)
        check_plugins(record, components)  # a missing plug-in is named with its package, before the config
    cfg = read_run_config(run_dir, components)
    dev = resolve_device(device, "--device")
    check_tokenizer_present(run_dir, components)
    check_training_size(cfg, dev)  # an edited config.json: refused before the data is made
    data = build_data(cfg, components, run_dir / "data")
    check_model_fits(cfg, components, data, copies=3, device=dev)
    model = model_for_data(cfg, components, data)
    record_tokenizer(run_dir, data, write=False)
    if exported:
        load_weights(model, read_export_weights(run_dir, record), run_dir)
        model.set_stage(int(record["export"]["stage"]))
        model.to(dev).eval()
        return LoadedRun(cfg, model, data, int(record["export"]["step"]), run_dir)
    found = load_newest_valid(run_dir / "checkpoints", _warn)
    if found is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train it first")
    path, state = found
    load_weights(model, state["model"], path)
    if use_ema and state["ema"] is not None:
        sd = model.state_dict()
        for k, v in state["ema"].items():
            if k not in sd or sd[k].shape != v.shape:
                raise CheckpointError(f"{path}: EMA weight {k!r} does not fit the run's model")
            sd[k].copy_(v)
    model.set_stage(state["train_state"].stage)
    model.to(dev).eval()
    return LoadedRun(cfg, model, data, state["train_state"].step, run_dir)
