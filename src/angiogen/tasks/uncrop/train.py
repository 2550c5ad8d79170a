"""Training the uncrop network with the shared :class:`~angiogen.train.Trainer` (docs/methods/uncrop.md §2.5, §4).

Adam without weight decay at a constant learning rate (the method's), EMA weights for validation and sampling,
gradient clipping, batches drawn on the fly as a pure function of (seed, index) so that a resumed run is exact.
With a VAE prior the VAE is trained jointly with its own loss (the method trains it first, then freezes it; joint
training needs one run instead of two, and the U-Net sees the prior field detached either way). Fine-tuning starts
from a saved model (``init``), whose network configuration then replaces the recipe's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from torch import nn

from angiogen.config import Config
from angiogen.errors import InputError
from angiogen.io.rundir import RunDir
from angiogen.metrics.image import psnr
from angiogen.tasks.uncrop.baselines import mean_fill
from angiogen.tasks.uncrop.data import VAL_PAIRS, TRAIN_PAIRS, UncropDataset
from angiogen.tasks.uncrop.diffusion import TrainingObjective, make_scheduler, sample
from angiogen.tasks.uncrop.model import ModelConfig, UncropModel, UncropNet, load_model
from angiogen.train import EMA, DistributedContext, Trainer, TrainConfig, TrainResult, unwrap_model, wrap_model


class RecipeConfig(Config):
    """The uncrop training recipe (defaults: the bundled CPU model's, docs/methods/uncrop.md §4)."""

    steps: int = Field(2000, ge=1, description="Optimiser steps.")
    batch_size: int = Field(8, ge=1, description="Images per step (over all ranks).")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate (constant).")
    ema_decay: float = Field(0.999, ge=0, lt=1)
    grad_clip_norm: float | None = 1.0
    precision: str = "auto"
    log_every: int = Field(25, ge=1)
    validate_every: int = Field(250, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    validation_steps: int = Field(10, ge=1, description="DDIM steps of the validation samples.")
    model: ModelConfig = Field(default_factory=ModelConfig)


@dataclass
class FitResult:
    """A trained model (EMA weights) and the Trainer's summary."""

    model: UncropModel
    result: TrainResult


def validation_pairs(data: UncropDataset, recipe: RecipeConfig, seed: int) -> dict[str, torch.Tensor]:
    """The fixed validation batch (stream ``VAL_PAIRS``): ``n_val`` pairs drawn like the training pairs."""
    return data.batch(seed, VAL_PAIRS, 0, data.config.n_val)


def missing_psnr(estimate: np.ndarray, truth: np.ndarray, missing: np.ndarray) -> float:
    """Mean over images of the PSNR (data range 1) over the missing pixels; (N, H, W) arrays."""
    return float(np.mean([psnr(e, t, 1.0, m > 0.5) for e, t, m in zip(estimate, truth, missing)]))


def _batch(data: UncropDataset, batch_size: int, train_timesteps: int, seed: int, ctx: DistributedContext,
           index: int) -> dict[str, torch.Tensor]:
    """This rank's share of micro-batch ``index``, with the diffusion timesteps and noise of the whole batch
    drawn from (seed, index): the same batch whatever the number of processes, and after a resume."""
    share = batch_size // ctx.world_size
    batch = data.batch(seed, TRAIN_PAIRS, index, batch_size)
    draws = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, TRAIN_PAIRS, index]).generate_state(1)[0]))
    batch["timesteps"] = torch.randint(0, train_timesteps, (batch_size,), generator=draws)
    batch["noise"] = torch.randn(batch["full"].shape, generator=draws)
    return {name: tensor[ctx.rank * share:(ctx.rank + 1) * share] for name, tensor in batch.items()}


def fit(data: UncropDataset, recipe: RecipeConfig, run_dir: RunDir, seed: int, device: torch.device,
        ctx: DistributedContext | None = None, resume: bool = False, quiet: bool = False,
        init: str | Path | None = None) -> FitResult:
    """Train (or fine-tune from ``init``, a model file) an uncrop model; logs and checkpoints go to ``run_dir``.

    Raises:
        InputError: the batch size does not split evenly over the ranks, or ``init`` is not an uncrop model.
    """
    ctx = ctx or DistributedContext.from_env()
    if recipe.batch_size % ctx.world_size:
        raise InputError(f"batch_size {recipe.batch_size} does not split evenly over {ctx.world_size} processes")
    torch.manual_seed(seed)
    if init is not None:
        start = load_model(init)
        net, model_config = start.net, start.config
    else:
        model_config = recipe.model
        net = UncropNet(model_config)
    module = wrap_model(TrainingObjective(net, make_scheduler(model_config)).to(device), ctx)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    ema = EMA(module, recipe.ema_decay, warmup=True)
    val = validation_pairs(data, recipe, seed)
    truth, collimated, missing = (val[name][:, 0].numpy() for name in ("full", "collimated", "missing"))
    filled = np.stack([mean_fill(image, mask < 0.5) for image, mask in zip(collimated, missing)])
    mean_fill_psnr = missing_psnr(filled, truth, missing)

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]):
        return model(batch["full"], batch["collimated"], batch["missing"], batch["timesteps"], batch["noise"])

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        samples = sample(unwrap_model(model).net, val["collimated"].to(device), val["missing"].to(device), 1,
                         recipe.validation_steps, torch.Generator().manual_seed(seed))
        score = missing_psnr(samples[:, 0].cpu().numpy(), truth, missing)
        return {"val_psnr_missing": score, "val_psnr_missing_mean_fill": mean_fill_psnr}

    config = TrainConfig(max_steps=recipe.steps, precision=recipe.precision, log_every=recipe.log_every,
                         checkpoint_every=recipe.checkpoint_every, validate_every=recipe.validate_every,
                         grad_clip_norm=recipe.grad_clip_norm, resume=resume, quiet=quiet, keep_last=2,
                         monitor="val_psnr_missing")
    trainer = Trainer(module, optimizer, loss_fn, run_dir, config, ema=ema,
                      extra_state={"recipe": recipe.model_dump(mode="json")})
    batches = functools.partial(_batch, data, recipe.batch_size, model_config.train_timesteps, seed, ctx)
    result = trainer.fit(batches, validate)
    ema.copy_to(module)
    trained = unwrap_model(module).net.cpu().eval()
    info = {"steps": result.step, "seed": seed, "data_seed": data.seed, "data_kind": data.kind,
            "recipe": recipe.model_dump(mode="json"), "init": str(init) if init else None,
            "last_metrics": result.last_metrics}
    return FitResult(UncropModel(trained, info), result)
