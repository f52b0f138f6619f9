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
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ladd_core.components.data import Batch, DataSource
from ladd_core.config.errors import ConfigError
from ladd_core.config.experiment import ExperimentConfig
from ladd_core.model import LaddModel
from ladd_core.training.callbacks import StepEnd, TrainerCallback
from ladd_core.training.checkpoint import TrainState, save_checkpoint
from ladd_core.training.distributed import DistContext, full_tensors, optimizer_state_like, wrap_model
from ladd_core.training.lock import RunLock
from ladd_core.training.optim import EMA, build_optimizer, linear_weight_ids
from ladd_core.training.signals import StopOnSignal, TrainingInterrupted
from ladd_core.training.standard import TrainingDiverged, standard_callbacks
from ladd_core.training.stats import StepStats
from ladd_core.training.threads import ThreadGovernor

__all__ = ["StepStats", "Trainer", "TrainingDiverged", "TrainingInterrupted", "chunk_seed"]


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
    """Trains one experiment in ``run_dir`` from ready parts (see :func:`ladd_core.training.factory.build_trainer`).

    Construction has no side effects beyond wrapping the model for data parallelism: the process
    group, threads, run directory, data, model and the resumed state are made by the factory.  The
    loop only takes optimiser steps; logging, validation, checkpoints, health probes, the thread
    governor and the NaN guard are :class:`~ladd_core.training.callbacks.TrainerCallback` s.
    Only rank 0 writes (callbacks check :attr:`is_main`).

    Args:
        cfg: the validated experiment config.
        run_dir: output directory (config, checkpoints, metrics, tokenizer).
        dist: the process group (a single process when not distributed).
        device: where the model runs.
        data: the run's data source.
        model: the model, on ``device``, with its weights (initialised or resumed).
        state: the counters to start from (a fresh :class:`TrainState` or a checkpoint's); ``state.stage``
            is the stage entered.
        lock: the run's lock (held by rank 0; :meth:`train` holds it while training).
        log: progress printer (a no-op on ranks other than 0).
        callbacks: the hooks the loop calls (default: :func:`~ladd_core.training.standard.standard_callbacks`).
        threads: the thread governor the standard callbacks check (ignored with explicit ``callbacks``).
        latent_read_t_y: the latent time at which the configured sampler reads the latent at its first
            step (:meth:`~ladd_core.components.samplers.Sampler.latent_read_time`): the latent-health probe's
            operating point (``None``: the channel's training default).
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        run_dir: Path,
        *,
        dist: DistContext,
        device: torch.device,
        data: DataSource,
        model: LaddModel,
        state: TrainState,
        lock: RunLock,
        log: Callable[[str], None],
        callbacks: Sequence[TrainerCallback] | None = None,
        threads: ThreadGovernor | None = None,
        latent_read_t_y: float | None = None,
    ) -> None:
        tc = cfg.train
        self.latent_read_t_y = latent_read_t_y
        self.cfg, self.run_dir, self.dist, self.device = cfg, Path(run_dir), dist, device
        self.is_main = dist.is_main
        self.log = log
        self.per_rank, self.micro, self.accum = batch_split(tc.batch_size, tc.micro_batch_size, dist.world_size)
        self._lock = lock
        self.data, self.model, self.state = data, model, state
        self.runner: torch.nn.Module | None = None
        self._enter_stage(state.stage)
        self.ema = EMA(model, tc.ema, num_updates=state.step)  # one update per step
        self.callbacks: list[TrainerCallback] = (
            list(callbacks) if callbacks is not None else standard_callbacks(self, threads)
        )

    def restore(self, ck: Mapping[str, Any]) -> None:
        """Load a checkpoint's optimiser, scheduler, EMA and RNG states (the weights are loaded before wrapping)."""
        self.optimizer.load_state_dict(optimizer_state_like(ck["optimizer"], self.optimizer))
        self.scheduler.load_state_dict(ck["scheduler"])
        if ck["ema"] is not None:
            self.ema.load_state_dict(ck["ema"])
        rng = ck.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])

    # -- stages, optimiser, wrapping -------------------------------------------
    def _enter_stage(self, stage: int) -> None:
        fsdp = self.cfg.train.fsdp
        if fsdp and self.runner is None:  # FSDP replaces the parameters by shards: once, before collecting them
            self.runner = wrap_model(self.model, self.dist, self.device, fsdp=True)
        params = self.model.set_stage(stage)
        if not fsdp:  # DDP registers the trainable set: rewrap after every change
            self.runner = wrap_model(self.model, self.dist, self.device, fsdp=False)
        names = {id(p): n for n, p in self.model.named_parameters()}
        linear = linear_weight_ids(self.model)
        self.optimizer, self.scheduler = build_optimizer(params, self.cfg.train, names, linear)
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

    def chunks(self, batch: Batch, step: int, stream: str) -> Iterator[tuple[bool, Batch, torch.Generator]]:
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
            self._enter_stage(stage)
            for cb in self.callbacks:
                cb.on_stage_change(self, self.state.step, stage)
        assert self.runner is not None
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss, nelbo nats, tokens
        logs: dict[str, torch.Tensor | float] = {}  # tensors: reduced to numbers only when logged
        for last, part, gen in self.chunks(batch, self.state.step, "train"):
            with self._sync_grads(last):
                with self._autocast():
                    out = self.runner(part.tokens, part.attention_mask, gen)
                (out.loss / self.accum).backward()
            sums += torch.stack([out.loss.detach().double(), out.token_nelbo.detach().double().sum(), _total(out)])
            for k, v in out.logs.items():
                logs[k] = logs.get(k, 0.0) + (v.detach().double() if torch.is_tensor(v) else v) / self.accum
        self.dist.all_reduce_sum(sums)
        loss = float(sums[0]) / (self.accum * self.dist.world_size)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = tc.grad_clip if tc.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)  # CPU default: 2 ops per tensor
        norm = full_tensors({"n": norm})["n"]
        for cb in self.callbacks:
            cb.on_before_update(self, loss, norm)  # the NaN guard raises here
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

    def _train(self, total: int, stop: StopOnSignal) -> dict[str, Any]:
        for cb in self.callbacks:
            cb.on_train_start(self, total)
        batches = self._batches()
        self.model.train()
        while self.state.step < total:
            batch = next(batches)
            stats = self.train_step(batch)
            event = StepEnd(self.state.step, total, batch, stats, stopping=bool(stop.signum))
            for cb in self.callbacks:
                cb.on_step_end(self, event)
            if stop.signum:
                if not event.stopping:  # the signal arrived while the callbacks ran: checkpoint this step now
                    path = self.save()
                    for cb in self.callbacks:
                        cb.on_checkpoint(self, event.step, path)
                raise TrainingInterrupted(stop.signum, event.step)
        result: dict[str, Any] = {}
        for cb in self.callbacks:
            result.update(cb.final_values(self))
        for cb in self.callbacks:
            cb.on_train_end(self, result)
        return result

    def mean_over_ranks(self, logs: dict[str, float]) -> dict[str, float]:
        """``logs`` averaged over the processes (a collective: every rank calls it)."""
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
            for _, part, gen in self.chunks(batch, i, "eval"):
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
