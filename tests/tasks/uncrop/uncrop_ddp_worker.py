"""Worker for test_uncrop_ddp.py: a few uncrop training steps under DDP (torchrun, 2 gloo CPU processes).

Every rank builds the same smoke dataset, trains with :func:`angiogen.tasks.uncrop.train.fit` on its half of each
batch (the diffusion noise and timesteps of the whole batch come with it), and writes its final weights to
``<out>/rank<r>.safetensors`` (EMA off, so these are the trained weights).

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 uncrop_ddp_worker.py --out DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from angiogen.tasks.uncrop.cli import SMOKE_DATA, SMOKE_MODEL
from angiogen.tasks.uncrop.data import DataConfig, UncropDataset, build_synthetic
from angiogen.tasks.uncrop.model import ModelConfig
from angiogen.tasks.uncrop.train import RecipeConfig, fit
from angiogen.train.run_context import training_run


def dataset() -> UncropDataset:
    """The smoke synthetic dataset, in memory."""
    config = DataConfig(**SMOKE_DATA)
    bank, test = build_synthetic(config, 0)
    return UncropDataset("synthetic", config, 0, bank, None, None, test)


def recipe() -> RecipeConfig:
    """Three steps of batch 4 on the smoke network; no EMA, no validation."""
    return RecipeConfig(steps=3, batch_size=4, lr=1e-3, ema_decay=0.0, validate_every=100, checkpoint_every=100,
                        log_every=1, model=ModelConfig(**SMOKE_MODEL))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen = recipe()
    with training_run(args.out / "run", chosen, device="cpu", overwrite=True) as training:
        fitted = fit(dataset(), chosen, training.run, seed=0, device=training.device, ctx=training.dist, quiet=True)
    weights = {name: tensor.contiguous() for name, tensor in fitted.model.net.state_dict().items()}
    save_file(weights, str(args.out / f"rank{training.dist.rank}.safetensors"))


if __name__ == "__main__":
    main()
