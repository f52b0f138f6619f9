"""Making a :class:`~ladd_core.training.trainer.Trainer`: every side effect of starting a run, in order.

:func:`build_trainer` joins the process group, fixes the thread count, takes the run's lock,
records the config, builds the data (which may fit a tokenizer), seeds and builds the model,
finds the newest valid checkpoint, compiles, and only then constructs the trainer from the
ready objects and restores the checkpoint's optimiser, EMA and RNG states.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ladd_core.bounds import check_training_size
from ladd_core.build import build_data, build_sampler
from ladd_core.config.experiment import ExperimentConfig, validate_config
from ladd_core.outputs import removed_on_error
from ladd_core.plugins import Components, get_components
from ladd_core.training.callbacks import TrainerCallback
from ladd_core.training.checkpoint import TrainState
from ladd_core.training.distributed import init_distributed
from ladd_core.training.history import resume_point
from ladd_core.training.lock import RunLock
from ladd_core.training.runs import (
    check_model_fits,
    load_weights,
    model_for_data,
    open_run,
    record_tokenizer,
    resolve_device,
)
from ladd_core.training.threads import ThreadGovernor
from ladd_core.training.trainer import Trainer, batch_split, stage_at

__all__ = ["build_trainer", "train_entry"]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_trainer(
    cfg: ExperimentConfig,
    components: Components,
    run_dir: Path,
    log: Callable[[str], None] | None = None,
    callbacks: Sequence[TrainerCallback] | None = None,
) -> Trainer:
    """A trainer for ``cfg`` in ``run_dir``, resumed from its newest valid checkpoint if there is one.

    Only rank 0 writes (run config, tokenizer record); every rank reads the checkpoint.  On return
    rank 0 holds the run's lock; a failure on the way releases it.

    Args:
        cfg: the validated experiment config.
        components: the registries the config was validated against.
        run_dir: output directory (config, checkpoints, metrics, tokenizer).
        log: progress printer (default: stderr on rank 0).
        callbacks: the loop's hooks (default: the standard ones, from ``cfg.train``).
    """
    run_dir = Path(run_dir)
    tc = cfg.train
    dist, device = init_distributed(resolve_device(tc.device), need_group=tc.fsdp)
    printer = log or _stderr
    say: Callable[[str], None] = printer if dist.is_main else (lambda msg: None)
    threads = ThreadGovernor(tc.threads if not dist.enabled or tc.threads != "auto" else 0, say)
    threads.start()  # before building the model: a fixed count applies to the whole run
    batch_split(tc.batch_size, tc.micro_batch_size, dist.world_size)  # a bad split fails before any write
    check_training_size(cfg, device)  # data and activations: refused before anything is made
    fresh = not run_dir.exists()
    lock = RunLock(run_dir, enabled=dist.is_main).acquire()  # one writer: refuse at once if taken
    with lock.released_on_error(), removed_on_error(run_dir, fresh and dist.is_main):  # no half-made run
        if dist.is_main:
            open_run(run_dir, cfg, components, say)  # under the lock: the config check cannot race
            data = build_data(cfg, components, run_dir / "data")  # may fit a tokenizer
        dist.barrier()
        if not dist.is_main:
            data = build_data(cfg, components, run_dir / "data")
        check_model_fits(cfg, components, data, copies=5, device=device)
        torch.manual_seed(cfg.seed)  # parameter initialisation (identical on every rank)
        model = model_for_data(cfg, components, data).to(device)
        if dist.is_main:
            record_tokenizer(run_dir, data)  # first run: store the fingerprint; resume: verify it
        path, ck = resume_point(run_dir / "checkpoints", say, dist.is_main, dist.barrier)  # newest valid one
        state = TrainState(stage=stage_at(0, tc.stages))
        if ck is not None:
            load_weights(model, ck["model"], path)  # before wrapping: FSDP shards what is loaded
            state = ck["train_state"]
        if tc.compile:
            for net in (model.backbone, model.latent_denoiser):
                if net is not None:
                    net.compile()  # in place: parameter names and checkpoints are unchanged
        trainer = Trainer(
            cfg,
            run_dir,
            dist=dist,
            device=device,
            data=data,
            model=model,
            state=state,
            lock=lock,
            log=say,
            callbacks=callbacks,
            threads=threads,
            latent_read_t_y=build_sampler(components, cfg.sampler).latent_read_time(model.capabilities),
        )
        if ck is not None:
            trainer.restore(ck)
            say(f"resumed from {path.name} (step {state.step}, stage {state.stage})")
    return trainer


def train_entry(config: dict[str, Any], run_dir: str, *max_steps: int | None) -> None:
    """Validate ``config`` and train it in ``run_dir`` (a spawn target for :func:`launch_local`).

    With several ``max_steps`` a fresh trainer resumes the run for each in turn.
    """
    comps = get_components()
    for stop in max_steps or (None,):
        build_trainer(validate_config(config, comps), comps, Path(run_dir)).train(stop)
