"""Training toolkit shared by all tasks: device, seeding, EMA, checkpoints, DDP, logging."""

from angiogen.train.checkpoint import (
    LoadedCheckpoint,
    find_latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from angiogen.train.device import autocast_context, needs_grad_scaler, resolve_precision, select_device
from angiogen.train.distributed import (
    DistributedContext,
    cleanup,
    init_distributed,
    is_main_process,
    shard_indices,
    shard_sampler,
    unwrap_model,
    wrap_model,
)
from angiogen.train.early_stopping import EarlyStopping
from angiogen.train.ema import EMA
from angiogen.train.logging import MetricLogger
from angiogen.train.loop import Trainer, TrainConfig, TrainResult, move_to_device
from angiogen.train.seeding import capture_rng_state, restore_rng_state, seed_everything

__all__ = [
    "EMA",
    "DistributedContext",
    "EarlyStopping",
    "LoadedCheckpoint",
    "MetricLogger",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "autocast_context",
    "capture_rng_state",
    "cleanup",
    "find_latest_checkpoint",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "load_weights",
    "move_to_device",
    "needs_grad_scaler",
    "resolve_precision",
    "restore_rng_state",
    "save_checkpoint",
    "save_weights",
    "seed_everything",
    "select_device",
    "shard_indices",
    "shard_sampler",
    "unwrap_model",
    "wrap_model",
]
