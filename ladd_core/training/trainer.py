"""The training loop: resumable, NaN-safe, logging to ``RUN/metrics.jsonl``."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ladd_core.build import build_data, build_model
from ladd_core.components.data import Batch, DataSource
from ladd_core.config.experiment import ExperimentConfig
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.training.checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from ladd_core.training.optim import EMA, build_optimizer
from ladd_core.training.runs import resolve_device, save_run_config

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN/inf; the last good checkpoint is kept."""


def stage_at(step: int, stages: list[int]) -> int:
    """1-based stage in force at ``step`` given the stage start steps."""
    return max(1, sum(1 for s in sorted(stages) if s <= step))


class Trainer:
    """Trains one experiment in ``run_dir``, resuming from its latest checkpoint if there is one.

    Args:
        cfg: the validated experiment config.
        components: the registries the config was validated against.
        run_dir: output directory (config, checkpoints, metrics, tokenizer).
        log: progress printer (default: stderr).
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        components: Components,
        run_dir: Path,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        tc = cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.device = resolve_device(tc.device)
        self.data: DataSource = build_data(cfg, components, self.run_dir / "data")
        torch.manual_seed(cfg.seed)  # parameter initialisation
        self.model: LaddModel = build_model(
            cfg,
            components,
            vocab_size=self.data.vocab_size,
            seq_len=self.data.seq_len,
            detokenize=self.data.tokenizer.decode,
        ).to(self.device)
        self.ema = EMA(self.model, tc.ema)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.state = TrainState()
        self._enter_stage(stage_at(0, tc.stages))
        save_run_config(self.run_dir, cfg, components)
        self._resume()

    # -- stages and optimiser -------------------------------------------------
    def _enter_stage(self, stage: int) -> None:
        params = self.model.set_stage(stage)
        self.optimizer, self.scheduler = build_optimizer(params, self.cfg.train)
        self.state.stage = stage

    # -- checkpoints ----------------------------------------------------------
    @property
    def ckpt_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def _resume(self) -> None:
        path = latest_checkpoint(self.ckpt_root)
        if path is None:
            return
        ck = load_checkpoint(path)
        self.model.load_state_dict(ck["model"])
        st: TrainState = ck["train_state"]
        if st.stage != self.state.stage:
            self._enter_stage(st.stage)
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        if ck["ema"] is not None:
            self.ema.load_state_dict(ck["ema"])
        self.gen.set_state(ck["rng"]["train"])
        torch.set_rng_state(ck["rng"]["torch"])
        self.state = st
        self.log(f"resumed from {path.name} (step {st.step}, stage {st.stage})")

    def save(self) -> Path:
        """Write a checkpoint of the current state."""
        return save_checkpoint(
            self.ckpt_root,
            model_state=self.model.state_dict(),
            ema_state=self.ema.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            scheduler_state=self.scheduler.state_dict(),
            rng_states={"train": self.gen.get_state(), "torch": torch.get_rng_state()},
            train_state=self.state,
        )

    # -- data -----------------------------------------------------------------
    def _batches(self) -> Iterator[Batch]:
        bs = self.cfg.train.batch_size
        per_epoch = self.data.num_train_batches(bs)
        if per_epoch < 1:
            raise ValueError(f"the data source yields no full batch of {bs}; lower train.batch_size")
        while True:
            for batch in self.data.train_batches(bs, self.state.epoch, self.state.batch_index):
                self.state.batch_index += 1
                yield batch
            self.state.epoch += 1
            self.state.batch_index = 0

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- the loop -------------------------------------------------------------
    def train(self, max_steps: int | None = None) -> dict[str, float]:
        """Train until ``max_steps`` (default: the config's); returns the final validation metrics."""
        tc = self.cfg.train
        total = tc.max_steps if max_steps is None else max_steps
        metrics_file = self.run_dir / "metrics.jsonl"
        _truncate_log(metrics_file, self.state.step)
        batches = self._batches()
        self.model.train()
        t0, tokens = time.perf_counter(), 0
        while self.state.step < total:
            stage = stage_at(self.state.step, tc.stages)
            if stage != self.state.stage:
                self.log(f"step {self.state.step}: entering stage {stage} (optimizer rebuilt)")
                self._enter_stage(stage)
            batch = next(batches).to(self.device)
            with self._autocast():
                out = self.model.loss(batch, self.gen)
            if not torch.isfinite(out.loss.detach()):
                raise TrainingDiverged(
                    f"loss is {float(out.loss.detach())} at step {self.state.step}; stopped. The last good checkpoint "
                    f"is kept in {self.ckpt_root} (lower train.lr or enable train.grad_clip)."
                )
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip if tc.grad_clip > 0 else math.inf)
            if not torch.isfinite(norm):
                raise TrainingDiverged(
                    f"gradient norm is {float(norm)} at step {self.state.step}; stopped before the update. "
                    f"The last good checkpoint is kept in {self.ckpt_root}."
                )
            self.optimizer.step()
            self.scheduler.step()
            self.ema.update(self.model)
            self.state.step += 1
            tokens += int(batch.attention_mask.sum())
            step = self.state.step
            if step % tc.log_every == 0 or step == total:
                dt = time.perf_counter() - t0
                rec = {
                    "step": step,
                    "stage": self.state.stage,
                    "loss": float(out.loss.detach()),
                    "nelbo_bpt": float(out.token_nelbo.sum() / out.num_tokens.sum()) / math.log(2),
                    "grad_norm": float(norm),
                    "lr": self.scheduler.get_last_lr()[0],
                    "tokens_per_s": tokens / max(dt, 1e-9),
                    **out.logs,
                }
                _append_jsonl(metrics_file, rec)
                eta = (total - step) * dt / max(tc.log_every, 1) if step < total else 0.0
                self.log(
                    f"step {step}/{total} loss {rec['loss']:.4f} nelbo {rec['nelbo_bpt']:.3f} bits/tok "
                    f"{rec['tokens_per_s']:.0f} tok/s eta {eta:.0f}s"
                )
                t0, tokens = time.perf_counter(), 0
            if tc.eval_every and step % tc.eval_every == 0:
                _append_jsonl(metrics_file, {"step": step, **self.evaluate()})
            if step % tc.checkpoint_every == 0 or step == total:
                self.save()
        result = self.evaluate()
        _append_jsonl(metrics_file, {"step": self.state.step, "final": True, **result})
        return result

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation token NELBO (bits/token) with the EMA weights; fixed time/noise seed."""
        backup = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.ema.copy_to(self.model)
        self.model.eval()
        gen = torch.Generator(device=self.device).manual_seed(12345)
        tot_nats, tot_tok = 0.0, 0.0
        for batch in self.data.val_batches(self.cfg.train.batch_size, self.cfg.train.eval_batches):
            out = self.model.loss(batch.to(self.device), gen)
            tot_nats += float(out.token_nelbo.sum())
            tot_tok += float(out.num_tokens.sum())
        self.model.load_state_dict(backup)
        self.model.train()
        return {"val_nelbo_bpt": tot_nats / max(tot_tok, 1.0) / math.log(2)}


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (left by a run that crashed after its last checkpoint)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
