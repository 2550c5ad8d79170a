"""Data-parallel training with PyTorch DDP, launched by ``torchrun`` (multi-GPU, multi-node, or gloo on CPU).

A script written for one process runs unchanged under ``torchrun --nproc_per_node=N``: call
:func:`init_distributed` first, :func:`wrap_model` on the model, give each rank its share of the data
(:func:`shard_indices` or :func:`shard_sampler`), and :func:`cleanup` at the end.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from angiogen.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a data-parallel job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes in the job (1 when not distributed).
        local_rank: rank on this node; selects the GPU ``cuda:<local_rank>``.
        backend: ``"nccl"``, ``"gloo"`` or ``None`` when not distributed.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @classmethod
    def from_env(cls) -> DistributedContext:
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as set by ``torchrun`` (defaults: 0, 1, 0)."""
        try:
            rank = int(os.environ.get("RANK", "0"))
            world_size = int(os.environ.get("WORLD_SIZE", "1"))
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError as error:
            raise InputError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {error}") from error
        if world_size < 1 or not 0 <= rank < world_size:
            raise InputError(f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world_size}")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank)

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and writes checkpoints."""
        return self.rank == 0

    def device(self) -> torch.device:
        """The device this rank trains on: ``cuda:<local_rank>`` with the nccl backend, else CPU."""
        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def init_distributed(backend: str | None = None) -> DistributedContext:
    """Join the process group described by the torchrun environment; a no-op for a single process.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default nccl when CUDA is available, else gloo.

    Returns:
        The context of this process (with ``backend`` filled in when distributed).
    """
    ctx = DistributedContext.from_env()
    if not ctx.is_distributed:
        return ctx
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise InputError("the nccl backend needs CUDA; use backend='gloo' on CPU")
        torch.cuda.set_device(ctx.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
        log.info("joined process group: rank %d of %d (%s)", ctx.rank, ctx.world_size, backend)
    return DistributedContext(ctx.rank, ctx.world_size, ctx.local_rank, backend)


def is_main_process() -> bool:
    """True on rank 0 of an initialised process group, and always when not distributed."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap_model(model: nn.Module, ctx: DistributedContext) -> nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when distributed; return it unchanged otherwise.

    The model must already be on ``ctx.device()``.
    """
    if not ctx.is_distributed:
        return model
    if ctx.backend == "nccl":
        return DistributedDataParallel(model, device_ids=[ctx.local_rank], output_device=ctx.local_rank)
    return DistributedDataParallel(model)


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the module inside a DDP (or DataParallel) wrapper, or ``model`` itself."""
    while isinstance(model, (DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def shard_sampler(
    dataset: Dataset, ctx: DistributedContext, shuffle: bool = True, seed: int = 0, drop_last: bool = False
) -> DistributedSampler:
    """A ``DistributedSampler`` giving this rank its 1/world_size share of ``dataset``.

    Call ``sampler.set_epoch(epoch)`` at the start of every epoch so the shuffle changes.
    """
    return DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )


def shard_indices(n_items: int, ctx: DistributedContext) -> slice:
    """The contiguous slice of a global batch of ``n_items`` that belongs to this rank.

    ``n_items`` must be divisible by the world size so that every rank's loss mean has the same weight
    (DDP averages gradients across ranks).
    """
    if n_items % ctx.world_size:
        raise InputError(f"global batch of {n_items} cannot be split evenly over {ctx.world_size} processes")
    per_rank = n_items // ctx.world_size
    return slice(ctx.rank * per_rank, (ctx.rank + 1) * per_rank)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over all ranks (a copy); ``value`` itself when not distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    reduced = value.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / dist.get_world_size()


def barrier() -> None:
    """Wait for all ranks; a no-op when not distributed."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
