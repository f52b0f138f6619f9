"""Data-parallel training: process groups, DDP/FSDP wrapping, full state dicts, local launching.

``ladd train`` runs unchanged under ``torchrun --nproc_per_node=N``: :func:`init_distributed`
reads the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and joins a ``gloo`` (CPU) or ``nccl`` (CUDA) group.  Every rank draws the
same global batch from the data source and keeps its contiguous block of rows, so no example
is duplicated or dropped and the global batch is the one a single process would see.
Per-rank batches are equal, so DDP's gradient average equals the gradient of the
global-batch mean.
"""

from __future__ import annotations

import atexit
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ladd_core.components.data import Batch

__all__ = [
    "DistContext",
    "LossModule",
    "free_port",
    "full_tensors",
    "init_distributed",
    "launch_local",
    "load_into",
    "optimizer_state_like",
    "wrap_model",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank.
        world_size: number of processes.
        local_rank: rank on this node (selects the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that writes checkpoints, logs and run files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """Sum ``t`` over ranks in place (identity with one process)."""
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t


def init_distributed(device: torch.device, need_group: bool = False) -> tuple[DistContext, torch.device]:
    """Join the process group described by the ``torchrun`` environment (if any).

    Args:
        device: the configured device; under several processes a CUDA device without an
            index becomes ``cuda:LOCAL_RANK``.
        need_group: create a one-process group when not launched by ``torchrun`` (FSDP needs one).

    Returns:
        The context and the device this rank trains on.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not dist.is_initialized() and world <= 1:
        if not need_group:
            return DistContext(), device
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        atexit.register(_destroy)
    ctx = DistContext(dist.get_rank(), dist.get_world_size(), local_rank)
    return ctx, device


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class LossModule(nn.Module):
    """``forward`` = ``model.loss``, so DDP/FSDP hooks (which wrap ``forward``) see the loss computation.

    Args:
        model: the :class:`~ladd_core.model.LaddModel`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, attention_mask: Tensor, generator: torch.Generator | None) -> Any:
        """``(B, L)`` tokens and mask -> the model's ``LossOutput``."""
        return self.model.loss(Batch(tokens, attention_mask), generator)


def _shard_units(model: nn.Module) -> list[nn.Module]:
    """Modules FSDP shards separately: the members of every ``ModuleList`` that own parameters."""
    return [
        m
        for lst in model.modules()
        if isinstance(lst, nn.ModuleList)
        for m in lst
        if next(m.parameters(), None) is not None
    ]


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device, fsdp: bool) -> nn.Module:
    """The module to call for losses: plain, DDP-wrapped, or FSDP2-sharded (``fully_shard``).

    DDP uses ``find_unused_parameters`` because staged training freezes parts of the model
    and some latent channels skip modules.  It is cheap to rebuild (call again after the
    trainable set changes).  FSDP shards each transformer block and then the root; it
    replaces the parameters by ``DTensor`` shards in place, so call it once.
    """
    runner = LossModule(model)
    if not ctx.enabled and not fsdp:
        return runner
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        if not dist.is_initialized():
            raise RuntimeError("FSDP needs a process group: call init_distributed(device, need_group=True) first")
        for unit in _shard_units(model):
            fully_shard(unit)
        fully_shard(runner)
        return runner
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    # buffers here are constants (rope/time frequencies): no per-forward broadcast
    no_sync = (
        {"forward_sync_buffers": False} if "forward_sync_buffers" in _params(ddp) else {"broadcast_buffers": False}
    )
    return ddp(runner, device_ids=ids, find_unused_parameters=True, gradient_as_bucket_view=True, **no_sync)


def _params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)


def _is_dtensor(t: Any) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch without DTensor
        return False
    return isinstance(t, DTensor)


def full_tensors(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with every sharded ``DTensor`` gathered into a full tensor (collective under FSDP)."""
    return {k: (v.full_tensor() if _is_dtensor(v) else v) for k, v in state.items()}


def _like(full: Tensor, target: Tensor) -> Tensor:
    """``full`` laid out as ``target``: this rank's shard when ``target`` is a ``DTensor``."""
    if not _is_dtensor(target):
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(target.device), target.device_mesh, target.placements, src_data_rank=None)


@torch.no_grad()
def load_into(targets: dict[str, Tensor], full: dict[str, Tensor]) -> None:
    """Copy full tensors into ``targets`` (plain or ``DTensor`` shards) key by key."""
    missing = set(targets) - set(full)
    if missing:
        raise KeyError(f"state lacks {sorted(missing)[:5]}")
    for k, t in targets.items():
        t.copy_(_like(full[k], t))


def optimizer_state_like(state: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A full (checkpointed) optimiser state with per-parameter tensors re-sharded like the parameters."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    out = {}
    for pid, st in state["state"].items():
        p = params[int(pid)]
        out[pid] = {k: (_like(v, p) if torch.is_tensor(v) and v.dim() > 0 else v) for k, v in st.items()}
    return {"state": out, "param_groups": state["param_groups"]}


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(local_rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        fn(*args)
    finally:
        _destroy()


def launch_local(world_size: int, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` in ``world_size`` fresh processes on this machine, like ``torchrun --standalone``.

    ``fn`` must be importable by module path (it is sent to spawned interpreters).  Raises
    if any process fails.
    """
    import torch.multiprocessing as mp

    port = free_port()
    mp.start_processes(_worker, args=(world_size, port, fn, args), nprocs=world_size, start_method="spawn", join=True)
