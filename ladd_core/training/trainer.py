"""The training loop: exactly resumable (even after SIGKILL), NaN-safe, data-parallel; logs ``RUN/metrics.jsonl``.

One optimiser step consumes one *global* batch of ``train.batch_size`` rows from the data
source.  Under ``torchrun`` every one of the ``W`` processes draws that batch, keeps its
contiguous block of ``batch_size / W`` rows and runs it in micro-batches of
``train.micro_batch_size`` rows (gradient accumulation).  Every micro-batch is a *chunk* with a
global index ``c = rank * accum + j``; its times/noise generator and the global torch RNG
(dropout) are seeded from ``(seed, step, c)``.  Hence the random streams depend only on the
step and the chunk layout -- a run resumed from any checkpoint repeats the uninterrupted run
step for step, and ``W`` processes reproduce one process with ``micro_batch_size = batch_size / W``.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig
from ladd_core.model import LaddModel
from ladd_core.plugins import Components
from ladd_core.progress import format_seconds, quiet
from ladd_core.training.checkpoint import TrainState, save_checkpoint
from ladd_core.training.distributed import full_tensors, init_distributed, optimizer_state_like, wrap_model
from ladd_core.training.health import HealthMonitor
from ladd_core.training.history import resume_point, truncate_history
from ladd_core.training.lock import RunLock
from ladd_core.training.optim import EMA, build_optimizer
from ladd_core.training.runs import load_weights, open_run, record_tokenizer, resolve_device
from ladd_core.training.signals import StopOnSignal, TrainingInterrupted
from ladd_core.training.stats import StepStats
from ladd_core.training.threads import ThreadGovernor

__all__ = ["StepStats", "Trainer", "TrainingDiverged", "TrainingInterrupted", "chunk_seed", "train_entry"]


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN/inf; the last good checkpoint is kept."""


def stage_at(step: int, stages: list[int]) -> int:
    """1-based stage in force at ``step`` given the stage start steps."""
    return max(1, sum(1 for s in sorted(stages) if s <= step))


def chunk_seed(seed: int, step: int, chunk: int, stream: str = "train") -> int:
    """A 63-bit seed for chunk ``chunk`` of step ``step`` (independent streams per ``stream``)."""
    digest = hashlib.blake2b(f"{stream}:{seed}:{step}:{chunk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def batch_split(batch_size: int, micro: int, world: int) -> tuple[int, int, int]:
    """``(rows per process, rows per micro-batch, micro-batches per step)`` of a global batch."""
    if batch_size % world:
        raise ConfigError([("train.batch_size", f"{batch_size} rows cannot be split evenly over {world} processes")])
    per_rank = batch_size // world
    micro = micro or per_rank
    if per_rank % micro:
        raise ConfigError(
            [("train.micro_batch_size", f"{micro} does not divide the {per_rank} rows of each of {world} processes")]
        )
    return per_rank, micro, per_rank // micro


class Trainer:
    """Trains one experiment in ``run_dir``, resuming from its latest checkpoint if there is one.

    Only rank 0 writes (run config, checkpoints, metrics, progress lines); every rank reads
    the checkpoint on resume.

    Args:
        cfg: the validated experiment config.
        components: the registries the config was validated against.
        run_dir: output directory (config, checkpoints, metrics, tokenizer).
        log: progress printer (default: stderr on rank 0).
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
        tc = cfg.train
        self.dist, self.device = init_distributed(resolve_device(tc.device), need_group=tc.fsdp)
        self.is_main = self.dist.is_main
        printer = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.log: Callable[[str], None] = printer if self.is_main else (lambda msg: None)
        self.threads = ThreadGovernor(tc.threads if not self.dist.enabled or tc.threads != "auto" else 0, self.log)
        self.threads.start()  # before building the model: a fixed count applies to the whole run
        self.per_rank, self.micro, self.accum = batch_split(tc.batch_size, tc.micro_batch_size, self.dist.world_size)
        self._lock = RunLock(self.run_dir, enabled=self.is_main).acquire()  # one writer: refuse at once if taken
        with self._lock.released_on_error():  # a trainer that fails to start does not keep the run locked
            self._setup(cfg, components)

    def _setup(self, cfg: ExperimentConfig, components: Components) -> None:
        """Config record, data, model and the resumed state (rank 0 holds the run's lock)."""
        if self.is_main:
            open_run(self.run_dir, cfg, components, self.log)  # under the lock: the config check cannot race
            self.data: DataSource = build_data(cfg, components, self.run_dir / "data")  # may fit a tokenizer
        self.dist.barrier()
        if not self.is_main:
            self.data = build_data(cfg, components, self.run_dir / "data")
        torch.manual_seed(cfg.seed)  # parameter initialisation (identical on every rank)
        self.model: LaddModel = build_model(
            cfg,
            components,
            vocab_size=self.data.vocab_size,
            seq_len=self.data.seq_len,
            detokenize=self.data.tokenizer.decode,
            forbidden_ids=self.data.tokenizer.non_data_ids,
        ).to(self.device)
        if self.is_main:
            record_tokenizer(self.run_dir, self.data)  # first run: store the fingerprint; resume: verify it
        tc = cfg.train
        after = tc.health_after if tc.health_after is not None else int(0.4 * tc.max_steps)
        self.health = HealthMonitor(self.model, after, self.log)
        self.state = TrainState()
        path, ck = resume_point(self.ckpt_root, self.log, self.is_main, self.dist.barrier)  # newest valid one
        if ck is not None:
            load_weights(self.model, ck["model"], path)  # before wrapping: FSDP shards what is loaded
            self.state = ck["train_state"]
        self.runner: torch.nn.Module | None = None
        self._enter_stage(self.state.stage if ck is not None else stage_at(0, cfg.train.stages))
        if cfg.train.compile:
            for net in (self.model.backbone, self.model.latent_denoiser):
                if net is not None:
                    net.compile()  # in place: parameter names and checkpoints are unchanged
        self.ema = EMA(self.model, tc.ema, num_updates=self.state.step)  # one update per step
        if ck is not None:
            self.optimizer.load_state_dict(optimizer_state_like(ck["optimizer"], self.optimizer))
            self.scheduler.load_state_dict(ck["scheduler"])
            if ck["ema"] is not None:
                self.ema.load_state_dict(ck["ema"])
            self.log(f"resumed from {path.name} (step {self.state.step}, stage {self.state.stage})")

    # -- stages, optimiser, wrapping -------------------------------------------
    def _enter_stage(self, stage: int) -> None:
        fsdp = self.cfg.train.fsdp
        if fsdp and self.runner is None:  # FSDP replaces the parameters by shards: once, before collecting them
            self.runner = wrap_model(self.model, self.dist, self.device, fsdp=True)
        params = self.model.set_stage(stage)
        if not fsdp:  # DDP registers the trainable set: rewrap after every change
            self.runner = wrap_model(self.model, self.dist, self.device, fsdp=False)
        self.optimizer, self.scheduler = build_optimizer(params, self.cfg.train)
        self.state.stage = stage

    # -- checkpoints ----------------------------------------------------------
    @property
    def ckpt_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def save(self) -> Path | None:
        """Write a checkpoint of the current state (rank 0; every rank must call it under FSDP)."""
        model_state = full_tensors(self.model.state_dict())
        ema_state = full_tensors(self.ema.state_dict())
        opt = self.optimizer.state_dict()
        opt = {**opt, "state": {pid: full_tensors(st) for pid, st in opt["state"].items()}}
        if not self.is_main:
            return None
        return save_checkpoint(
            self.ckpt_root,
            model_state=model_state,
            ema_state=ema_state,
            optimizer_state=opt,
            scheduler_state=self.scheduler.state_dict(),
            rng_states={"torch": torch.get_rng_state()},
            train_state=self.state,
        )

    # -- data -----------------------------------------------------------------
    def _batches(self) -> Iterator[Batch]:
        bs = self.cfg.train.batch_size
        if self.data.num_train_batches(bs) < 1:
            raise ValueError(f"the data source yields no full batch of {bs}; lower train.batch_size")
        while True:
            for batch in self.data.train_batches(bs, self.state.epoch, self.state.batch_index):
                self.state.batch_index += 1
                yield batch
            self.state.epoch += 1
            self.state.batch_index = 0

    def _chunks(self, batch: Batch, step: int, stream: str) -> Iterator[tuple[bool, Batch, torch.Generator]]:
        """This rank's micro-batches of a global batch: ``(is_last, rows on device, seeded generator)``.

        The rank takes its contiguous block of rows (all ranks get equal blocks when the batch
        divides evenly, as training batches do) and cuts it into ``micro_batch_size`` pieces.
        """
        n = batch.tokens.shape[0]
        mine = torch.arange(n).tensor_split(self.dist.world_size)[self.dist.rank]
        lo, hi = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
        starts = list(range(lo, hi, self.micro))
        for j, a in enumerate(starts):
            rows = slice(a, min(a + self.micro, hi))
            seed = chunk_seed(self.cfg.seed, step, self.dist.rank * self.accum + j, stream)
            torch.manual_seed(seed ^ 0x5DEECE66D)  # dropout and any other global-RNG use
            gen = torch.Generator(device=self.device).manual_seed(seed)
            part = Batch(batch.tokens[rows], batch.attention_mask[rows]).to(self.device)
            yield j == len(starts) - 1, part, gen

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _sync_grads(self, on: bool) -> contextlib.AbstractContextManager[Any]:
        """Skip the gradient all-reduce on all but the last micro-batch."""
        if hasattr(self.runner, "no_sync") and not on:
            return self.runner.no_sync()  # type: ignore[union-attr]
        if hasattr(self.runner, "set_requires_gradient_sync"):
            self.runner.set_requires_gradient_sync(on)  # type: ignore[union-attr]
        return contextlib.nullcontext()

    # -- one step -------------------------------------------------------------
    def train_step(self, batch: Batch) -> StepStats:
        """One optimiser step on the global ``batch`` (every rank passes the same one)."""
        tc = self.cfg.train
        if batch.tokens.shape[0] != tc.batch_size:
            raise ValueError(f"train_step needs a global batch of {tc.batch_size} rows, got {batch.tokens.shape[0]}")
        stage = stage_at(self.state.step, tc.stages)
        if stage != self.state.stage:
            self.log(f"step {self.state.step}: entering stage {stage} (optimizer rebuilt)")
            self._enter_stage(stage)
        assert self.runner is not None
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss, nelbo nats, tokens
        logs: dict[str, torch.Tensor | float] = {}  # tensors: reduced to numbers only when logged
        for last, part, gen in self._chunks(batch, self.state.step, "train"):
            with self._sync_grads(last):
                with self._autocast():
                    out = self.runner(part.tokens, part.attention_mask, gen)
                (out.loss / self.accum).backward()
            sums += torch.stack([out.loss.detach().double(), out.token_nelbo.detach().double().sum(), _total(out)])
            for k, v in out.logs.items():
                logs[k] = logs.get(k, 0.0) + (v.detach().double() if torch.is_tensor(v) else v) / self.accum
        self.dist.all_reduce_sum(sums)
        loss = float(sums[0]) / (self.accum * self.dist.world_size)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss is {loss} at step {self.state.step}; stopped. The last good checkpoint "
                f"is kept in {self.ckpt_root} (lower train.lr or enable train.grad_clip)."
            )
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip if tc.grad_clip > 0 else math.inf)
        norm = full_tensors({"n": norm})["n"]
        if not torch.isfinite(norm):
            raise TrainingDiverged(
                f"gradient norm is {float(norm)} at step {self.state.step}; stopped before the update. "
                f"The last good checkpoint is kept in {self.ckpt_root}."
            )
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.model)
        self.state.step += 1
        return StepStats(loss, float(sums[1]), float(sums[2]), float(norm), logs)

    # -- the loop -------------------------------------------------------------
    def train(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train until ``max_steps`` (default: the config's); returns the final validation metrics."""
        tc = self.cfg.train
        total = tc.max_steps if max_steps is None else max_steps
        with self._lock.acquire(), StopOnSignal(enabled=not self.dist.enabled) as stop:  # lock released on return
            return self._train(total, stop)

    def _train(self, total: int, stop: StopOnSignal) -> dict[str, float]:
        tc = self.cfg.train
        metrics_file = self.run_dir / "metrics.jsonl"
        if self.is_main:
            truncate_history(metrics_file, self.state.step, self.log)
        batches = self._batches()
        self.model.train()
        t0, tokens = time.perf_counter(), 0
        while self.state.step < total:
            batch = next(batches)
            tokens += int(batch.attention_mask.sum())
            st = self.train_step(batch)
            self.threads.check()  # "auto": follow the machine's load (a cheap read, every few seconds)
            step = self.state.step
            if step % tc.log_every == 0 or step == total:
                dt = time.perf_counter() - t0
                rec = {
                    "step": step,
                    "stage": self.state.stage,
                    "loss": st.loss,
                    "nelbo_bpt": st.nelbo_nats / max(st.num_tokens, 1.0) / math.log(2),
                    "grad_norm": st.grad_norm,
                    "lr": self.scheduler.get_last_lr()[0],
                    "tokens_per_s": tokens / max(dt, 1e-9),
                    **self._mean_over_ranks({k: float(v) for k, v in st.logs.items()}),  # the only sync
                    **self._probe_health(batch, step),
                }
                if self.is_main:
                    _append_jsonl(metrics_file, rec)
                eta = (total - step) * dt / max(tc.log_every, 1) if step < total else 0.0
                if not quiet():  # the training progress line: one per log_every, with its ETA
                    self.log(
                        f"step {step}/{total} loss {rec['loss']:.4f} nelbo {rec['nelbo_bpt']:.3f} bits/tok "
                        f"{rec['tokens_per_s']:.0f} tok/s eta {format_seconds(eta)}"
                    )
                t0, tokens = time.perf_counter(), 0
            if tc.eval_every and step % tc.eval_every == 0:
                result = self.evaluate()
                if self.is_main:
                    _append_jsonl(metrics_file, {"step": step, **result})
            if step % tc.checkpoint_every == 0 or step == total or stop.signum:
                self.save()
            if stop.signum:
                raise TrainingInterrupted(stop.signum, step)
        result: dict[str, Any] = {**self.evaluate(), **self.health.summary()}
        if self.is_main:
            _append_jsonl(metrics_file, {"step": self.state.step, "final": True, **result})
        return result

    def _probe_health(self, batch: Batch, step: int) -> dict[str, float]:
        """The latent-health numbers on this rank's first micro-batch (every rank runs it; see HealthMonitor)."""
        _, part, gen = next(iter(self._chunks(batch, step, "health")))
        return self.health.observe(part, step, self.state.stage, gen)

    def _mean_over_ranks(self, logs: dict[str, float]) -> dict[str, float]:
        if not self.dist.enabled or not logs:
            return logs
        keys = sorted(logs)
        t = self.dist.all_reduce_sum(torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=self.device))
        return {k: float(v) / self.dist.world_size for k, v in zip(keys, t.tolist())}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation token NELBO (bits/token) with the EMA weights; fixed time/noise seeds (all ranks call it)."""
        assert self.runner is not None
        sd = self.model.state_dict()
        backup = {k: v.detach().clone() for k, v in sd.items()}
        self.ema.copy_to(self.model)
        self.model.eval()
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # token nats, tokens, latent nats, has-latent
        for i, batch in enumerate(self.data.val_batches(self.cfg.train.batch_size, self.cfg.train.eval_batches)):
            for _, part, gen in self._chunks(batch, i, "eval"):
                out = self.runner(part.tokens, part.attention_mask, gen)
                lat = out.latent_nelbo
                extra = (
                    [lat.detach().double().sum(), torch.ones((), dtype=torch.float64)]
                    if lat is not None
                    else [
                        torch.zeros((), dtype=torch.float64),
                        torch.zeros((), dtype=torch.float64),
                    ]
                )
                sums += torch.stack([out.token_nelbo.detach().double().sum(), _total(out), *extra]).to(sums.device)
        self.dist.all_reduce_sum(sums)
        for k, v in backup.items():
            sd[k].copy_(v)
        self.model.train()
        if float(sums[1]) == 0:  # no validation data: no number (a 0.0 would read as a perfect score)
            self.log("notice: validation has no tokens (data.val_fraction=0 or too little data); no val NELBO")
            return {}
        tokens = max(float(sums[1]), 1.0)
        result = {"val_nelbo_bpt": float(sums[0]) / tokens / math.log(2)}
        if float(sums[3]) > 0:  # the channel reports a valid latent bound term: L_x + L_y bounds -log p(x)
            result["val_joint_nelbo_bpt"] = float(sums[0] + sums[2]) / tokens / math.log(2)
        return result


def _total(out: Any) -> torch.Tensor:
    """Scored tokens of a ``LossOutput`` as a float64 scalar."""
    return out.num_tokens.detach().double().sum()


def train_entry(config: dict[str, Any], run_dir: str, *max_steps: int | None) -> None:
    """Validate ``config`` and train it in ``run_dir`` (a spawn target for :func:`launch_local`).

    With several ``max_steps`` a fresh :class:`Trainer` resumes the run for each in turn.
    """
    from ladd_core.config.experiment import validate_config
    from ladd_core.plugins import get_components

    comps = get_components()
    for stop in max_steps or (None,):
        Trainer(validate_config(config, comps), comps, Path(run_dir)).train(stop)


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
