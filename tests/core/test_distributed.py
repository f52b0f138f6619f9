"""Scale features of the trainer: DDP/FSDP over 2 CPU processes (gloo) reproduce one process with the same
global batch; gradient accumulation; bf16 autocast; torch.compile keeps checkpoints unchanged; CUDA checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ladd_core.cli.config_cmds import resolve
from ladd_core.components.data import Batch
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import validate_config
from ladd_core.training.checkpoint import latest_checkpoint, load_checkpoint
from ladd_core.training.distributed import launch_local
from ladd_core.training.factory import build_trainer, train_entry
from ladd_core.training.trainer import Trainer, batch_split, chunk_seed

SETS = [
    "model.backbone.hidden=16", "model.backbone.layers=1", "model.backbone.heads=2", "model.backbone.cond_dim=8",
    "data.seq_len=32", "data.train_size=256", "data.val_size=32", "train.batch_size=8", "train.log_every=1",
    "train.checkpoint_every=2", "train.eval_every=0", "train.eval_batches=1", "train.threads=1",
    "train.warmup_steps=2", "train.lr=3e-3",
]  # fmt: skip


def _config(*extra: str) -> dict:
    return resolve("sawtooth-mdlm", [*SETS, *extra]).model_dump(mode="json")


def _losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_batch_split() -> None:
    assert batch_split(8, 0, 2) == (4, 4, 1)
    assert batch_split(8, 2, 2) == (4, 2, 2)
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        batch_split(9, 0, 2)
    with pytest.raises(ConfigError, match=r"train\.micro_batch_size"):
        batch_split(8, 3, 1)
    assert chunk_seed(0, 1, 0) != chunk_seed(0, 1, 1) != chunk_seed(0, 2, 0)


def _train(tmp: Path, components, *extra: str, steps: int = 4) -> Trainer:
    trainer = build_trainer(validate_config(_config(*extra), components), components, tmp)
    trainer.train(steps)
    return trainer


@pytest.mark.parametrize("mode", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_two_processes_match_single_process(tmp_path, components, mode: str) -> None:
    """Same global batch of 8: 2 ranks x 4 rows (gloo) vs 1 process x 2 micro-batches of 4; resumed under DDP/FSDP."""
    single, multi = tmp_path / "single", tmp_path / mode
    _train(single, components, "train.micro_batch_size=4")
    launch_local(2, train_entry, _config(f"train.fsdp={mode == 'fsdp'}"), str(multi), 2, 4)  # to step 2, resume to 4
    a, b = _losses(single), _losses(multi)
    assert sorted(b) == [1, 2, 3, 4], "rank 0 alone writes the log, one line per step"
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-6), step
    wa = load_checkpoint(latest_checkpoint(single / "checkpoints"))
    wb = load_checkpoint(latest_checkpoint(multi / "checkpoints"))
    assert wb["train_state"].step == 4 and wb["train_state"].batch_index == wa["train_state"].batch_index
    for key in ("model", "ema"):
        for k, v in wa[key].items():
            torch.testing.assert_close(wb[key][k], v, atol=2e-5, rtol=1e-4, msg=f"{key} {k}")
    assert not list(multi.glob("checkpoints/.*")), "no partial checkpoint left by another rank"


def test_grad_accumulation_is_the_mean_over_seeded_chunks(tmp_path, components) -> None:
    """4 micro-batches of 2: the step's loss is the mean of the chunk losses, chunk c seeded by (seed, step, c)."""
    trainer = build_trainer(validate_config(_config("train.micro_batch_size=2"), components), components, tmp_path)
    assert (trainer.per_rank, trainer.micro, trainer.accum) == (8, 2, 4)
    batch = next(iter(trainer.data.train_batches(8, 0, 0)))
    want = []
    with torch.no_grad():
        for c in range(4):
            gen = torch.Generator().manual_seed(chunk_seed(trainer.cfg.seed, 0, c))
            part = Batch(batch.tokens[2 * c : 2 * c + 2], batch.attention_mask[2 * c : 2 * c + 2])
            want.append(float(trainer.model.loss(part, gen).loss))
    stats = trainer.train_step(batch)
    assert stats.loss == pytest.approx(sum(want) / 4, rel=1e-6)
    assert trainer.state.step == 1 and stats.grad_norm > 0


def test_bf16_autocast_trains_in_float32_weights(tmp_path, components) -> None:
    t32 = _train(tmp_path / "fp32", components, steps=2)
    t16 = _train(tmp_path / "bf16", components, "train.precision=bf16", steps=2)
    l32, l16 = _losses(tmp_path / "fp32"), _losses(tmp_path / "bf16")
    assert all(torch.isfinite(torch.tensor(v)) for v in l16.values())
    assert l16[1] == pytest.approx(l32[1], rel=2e-2), "same weights and noise at step 1: bf16 is a rounding away"
    assert all(p.dtype == torch.float32 for p in t16.model.parameters())
    assert t32.model.state_dict().keys() == t16.model.state_dict().keys()


@pytest.mark.slow
def test_compile_keeps_checkpoint_layout_and_losses(tmp_path, components) -> None:
    eager = _train(tmp_path / "eager", components, steps=2)
    compiled = _train(tmp_path / "compiled", components, "train.compile=true", steps=2)
    ka = load_checkpoint(latest_checkpoint(tmp_path / "eager" / "checkpoints"))["model"]
    kb = load_checkpoint(latest_checkpoint(tmp_path / "compiled" / "checkpoints"))["model"]
    assert ka.keys() == kb.keys() and not any("_orig_mod" in k for k in kb)
    for step, loss in _losses(tmp_path / "eager").items():
        assert _losses(tmp_path / "compiled")[step] == pytest.approx(loss, rel=1e-4)
    assert eager.state.step == compiled.state.step == 2


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("attention", ["sdpa", "xformers"])
def test_cuda_bf16_training_step(tmp_path, components, attention: str) -> None:
    extra = ("train.device=cuda", f"model.backbone.attention.name={attention}")
    _train(tmp_path / "fp32", components, *extra, steps=3)
    trainer = _train(tmp_path / "bf16", components, *extra, "train.precision=bf16", steps=3)
    l32, l16 = _losses(tmp_path / "fp32"), _losses(tmp_path / "bf16")
    assert l16[1] == pytest.approx(l32[1], rel=2e-2)
    assert all(p.is_cuda and p.dtype == torch.float32 for p in trainer.model.parameters())
    state = load_checkpoint(latest_checkpoint(tmp_path / "bf16" / "checkpoints"))["model"]
    assert all(v.device.type == "cpu" and v.dtype == torch.float32 for v in state.values())


@cuda
@pytest.mark.cuda
def test_cuda_compile_bf16(tmp_path, components) -> None:
    extra = ("train.device=cuda", "train.precision=bf16")
    _train(tmp_path / "eager", components, *extra, steps=2)
    _train(tmp_path / "compiled", components, *extra, "train.compile=true", steps=2)
    a, b = _losses(tmp_path / "eager"), _losses(tmp_path / "compiled")
    assert b[1] == pytest.approx(a[1], rel=2e-2)
