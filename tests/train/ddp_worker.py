"""Worker for test_ddp.py: DDP training of a toy linear model, launched by torchrun with 2 CPU processes.

Each rank takes its half of a fixed global batch per step (and splits it again into ``--accumulate``
micro-batches); rank 0 writes the final weights to ``--out`` as safetensors.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_worker.py --out W --run-dir D
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from angiogen.train import (
    TrainConfig,
    Trainer,
    cleanup,
    init_distributed,
    save_weights,
    seed_everything,
    shard_indices,
    wrap_model,
)

GLOBAL_BATCH = 8
N_FEATURES = 4
LEARNING_RATE = 0.1


def toy_model() -> nn.Module:
    """The same initial linear model (4 -> 1) in every process."""
    torch.manual_seed(0)
    return nn.Linear(N_FEATURES, 1)


def global_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed global batch of ``step``: x (GLOBAL_BATCH, 4), y (GLOBAL_BATCH, 1)."""
    generator = torch.Generator().manual_seed(step)
    x = torch.randn(GLOBAL_BATCH, N_FEATURES, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(GLOBAL_BATCH, 1, generator=generator)
    return x, y


def mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean squared error of the model on ``batch``."""
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--accumulate", type=int, default=2)
    parser.add_argument("--expect-world-size", type=int, default=2)
    args = parser.parse_args()

    ctx = init_distributed(backend="gloo")
    if ctx.world_size != args.expect_world_size:
        raise SystemExit(f"expected {args.expect_world_size} processes, got {ctx.world_size}")
    seed_everything(0)
    model = wrap_model(toy_model(), ctx)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def batch_for_step(index: int) -> tuple[torch.Tensor, torch.Tensor]:
        step, micro = divmod(index, args.accumulate)
        x, y = global_batch(step)
        mine = shard_indices(GLOBAL_BATCH, ctx)
        x, y = x[mine], y[mine]
        per_micro = x.shape[0] // args.accumulate
        part = slice(micro * per_micro, (micro + 1) * per_micro)
        return x[part], y[part]

    config = TrainConfig(max_steps=args.steps, accumulate=args.accumulate, log_every=1, quiet=True)
    Trainer(model, optimizer, mse, args.run_dir, config).fit(batch_for_step)
    if ctx.is_main:
        save_weights(args.out, model)
    cleanup()


if __name__ == "__main__":
    main()
