"""A training step's diagnostics stay tensors until they are logged (no host sync per micro-batch on a GPU)."""

from __future__ import annotations

import json

import torch

import ladd_core as ladd
from ladd_core.build import build_model
from ladd_core.components.data import Batch

TINY = {
    "model.latent.encoder.hidden": 16, "model.latent.encoder.layers": 1, "model.latent.encoder.dim": 8,
    "model.backbone.hidden": 16, "model.backbone.layers": 1, "model.backbone.heads": 2, "model.backbone.cond_dim": 8,
    "data.seq_len": 16, "data.train_size": 64, "data.val_size": 16, "train.batch_size": 8, "train.stages": [0, 1],
    "train.log_every": 2, "train.eval_batches": 1, "train.micro_batch_size": 4,
}  # fmt: skip


def test_model_logs_are_detached_scalar_tensors(components) -> None:
    for preset in ("sawtooth-coladd", "sawtooth-diladd"):
        extra = {"model.latent_denoiser.hidden": 16, "model.latent_denoiser.layers": 1} if "coladd" in preset else {}
        cfg = ladd.config(preset, {**TINY, **extra}, components=components)
        model = build_model(cfg, components, vocab_size=2, seq_len=16)
        model.set_stage(2)
        g = torch.Generator().manual_seed(0)
        out = model.loss(Batch(torch.randint(0, 2, (8, 16), generator=g), torch.ones(8, 16, dtype=torch.bool)), g)
        tensors = {k: v for k, v in out.logs.items() if torch.is_tensor(v)}
        assert {"token_loss", "latent_loss"} <= tensors.keys()
        assert all(v.dim() == 0 and not v.requires_grad for v in tensors.values())


def test_trainer_writes_plain_numbers(tmp_path, components) -> None:
    cfg = ladd.config("sawtooth-diladd", {**TINY, "train.max_steps": 2}, components=components)
    ladd.train(cfg, out=tmp_path / "run", components=components)
    recs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in recs if r.get("step") == 2 and "code_loss" in r)
    assert isinstance(step["code_loss"], float) and step["code_loss"] > 0 and isinstance(step["token_loss"], float)
