"""Run directories: saved configs, devices, and loading a trained run for sampling or evaluation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import ladd_core
from ladd_core.components.data import DataSource
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.training.checkpoint import CheckpointError, atomic_write_text, latest_checkpoint, load_checkpoint

__all__ = ["LoadedRun", "config_hash", "load_run", "resolve_device", "save_run_config"]

CONFIG_FILE = "config.json"


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available; anything else is passed to :class:`torch.device`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError([("train.device", f"{name!r} requested but CUDA is not available; use 'cpu' or 'auto'")])
    return dev


def config_hash(cfg: ExperimentConfig) -> str:
    """Short stable hash of a config (sorted JSON), for result tables."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def save_run_config(run_dir: Path, cfg: ExperimentConfig, components: Components) -> None:
    """Write ``RUN/config.json`` (the config, ladd and plug-in versions); refuse to overwrite a different config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    data = cfg.model_dump(mode="json")
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8")).get("config")
        if old is not None and old != data:
            raise ConfigError(
                [("<run>", f"{run_dir} already holds a run with a different config; use a new --out directory")]
            )
    record = {
        "config": data,
        "config_hash": config_hash(cfg),
        "ladd_version": ladd_core.__version__,
        "torch_version": torch.__version__,
        "plugins": {p.name: p.version for p in components.plugins},
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


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
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise ConfigError([("<run>", f"{run_dir} is not a ladd run (no {CONFIG_FILE}); train one with `ladd train`")])
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return validate_config(record["config"], components, source=str(path))


def load_run(run_dir: Path, components: Components, device: str = "cpu", use_ema: bool = True) -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load its latest checkpoint (EMA weights by default)."""
    from ladd_core.build import build_data, build_model

    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir, components)
    data = build_data(cfg, components, run_dir / "data")
    model = build_model(
        cfg,
        components,
        vocab_size=data.vocab_size,
        seq_len=data.seq_len,
        detokenize=data.tokenizer.decode,
        forbidden_ids=data.tokenizer.non_data_ids,
    )
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet; train it first")
    state = load_checkpoint(ckpt)
    model.load_state_dict(state["model"])
    if use_ema and state["ema"] is not None:
        sd = model.state_dict()
        for k, v in state["ema"].items():
            sd[k].copy_(v)
    model.set_stage(state["train_state"].stage)
    model.to(resolve_device(device)).eval()
    return LoadedRun(cfg, model, data, state["train_state"].step, run_dir)
