"""Training the DSA U-Net on pairs drawn from the banks, with the shared :class:`~angiogen.train.Trainer`.

Loss (in normalised units): an MSE warm-up over the first ``warmup_fraction`` of the steps, then a
foreground-weighted L1, ``mean(w |f(x) - y|)`` with ``w = 1 + foreground_weight`` on pixels carrying iodine. Plain
L1 on sparse, faint targets stays at the all-zero output (the per-pixel median of a mostly empty target is 0);
the warm-up and the weights move the network off it, which the validation log shows next to the all-zero loss.

Adversarial arm (``adversarial: true``): the generator loss is ``pixel_weight * pixel loss - E[D(x, G(x))]``;
before each generator step the critic takes ``n_critic`` steps of ``E[D(x, G(x))] - E[D(x, y)] + lambda GP``
on the same batch, with its gradients zeroed before every step and the generator output detached. The critic
lives in the trained module (its weights are checkpointed) and its Adam state is a companion optimiser of the
Trainer, so a resume stays exact; under DDP its gradients are averaged over ranks by hand.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from pydantic import Field
from torch import nn

from angiogen.config import Config
from angiogen.io.rundir import RunDir
from angiogen.metrics.image import psnr, rms, roi_mask
from angiogen.nets.critic2d import ConditionalCritic, gradient_penalty
from angiogen.tasks.dsa.data import Banks
from angiogen.tasks.dsa.model import DSAModel, build_unet
from angiogen.tasks.dsa.pairs import VESSEL_THRESHOLD, PairConfig, draw_pairs
from angiogen.train import EMA, DistributedContext, Trainer, TrainConfig, TrainResult, unwrap_model, wrap_model

log = logging.getLogger(__name__)


class RecipeConfig(Config):
    """The dsa training recipe (defaults: the CPU recipe of docs/methods/dsa.md §4)."""

    steps: int = Field(6000, ge=1, description="Optimiser steps.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (cosine decay to lr_min).")
    lr_min: float = Field(1e-5, ge=0)
    base_channels: int = Field(16, ge=1, description="U-Net width of the first level.")
    warmup_fraction: float = Field(0.1, ge=0, le=1, description="Share of steps trained with MSE.")
    foreground_weight: float = Field(2.0, ge=0, description="Extra L1 weight on pixels carrying iodine.")
    ema_decay: float = Field(0.999, ge=0, lt=1)
    grad_clip_norm: float | None = 1.0
    precision: str = "auto"
    log_every: int = Field(50, ge=1)
    validate_every: int = Field(500, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    adversarial: bool = False
    n_critic: int = Field(4, ge=1)
    gp_lambda: float = Field(10.0, ge=0)
    pixel_weight: float = Field(10.0, ge=0)
    critic_channels: list[int] = Field(default_factory=lambda: [16, 32, 64, 128])
    critic_lr: float = Field(1e-4, gt=0)
    pairs: PairConfig = Field(default_factory=PairConfig)


class GeneratorAndCritic(nn.Module):
    """The trained module of the adversarial arm: ``forward`` is the generator's; the critic rides along."""

    def __init__(self, generator: nn.Module, critic: ConditionalCritic) -> None:
        super().__init__()
        self.generator = generator
        self.critic = critic

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Generator output for (B, 1, H, W) normalised frames."""
        return self.generator(images)


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, warmup: bool, foreground_weight: float,
               threshold: float) -> torch.Tensor:
    """MSE during the warm-up, else L1 weighted by ``1 + foreground_weight`` where ``target > threshold``."""
    if warmup:
        return torch.mean((pred - target) ** 2)
    weights = 1.0 + foreground_weight * (target > threshold).to(pred.dtype)
    return torch.mean(weights * (pred - target).abs())


def _batch(banks: Banks, recipe: RecipeConfig, seed: int, ctx: DistributedContext, index: int) -> dict[str, Any]:
    """Micro-batch ``index`` (this rank's share), normalised, with the warm-up flag of its step."""
    live, target, _ = draw_pairs(banks, recipe.pairs, seed, index)
    share = slice(ctx.rank, None, ctx.world_size)
    return {"x": ((live - banks.mean) / banks.std)[share], "y": (target / banks.std)[share],
            "warmup": index < recipe.warmup_fraction * recipe.steps}


def _average_gradients(module: nn.Module) -> None:
    """Average the gradients of ``module`` over ranks (a no-op when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad /= dist.get_world_size()


def make_loss(recipe: RecipeConfig, threshold: float, critic_optimizer: torch.optim.Optimizer | None):
    """``loss_fn(model, batch)`` for the Trainer: the pixel loss, or the adversarial arm's generator loss."""

    def plain(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        pred = model(batch["x"])
        loss = pixel_loss(pred, batch["y"], bool(batch["warmup"]), recipe.foreground_weight, threshold)
        return loss, {"pred_abs_mean": float(pred.detach().abs().mean())}

    def adversarial(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        critic = unwrap_model(model).critic
        x, y = batch["x"], batch["y"]
        with torch.no_grad():
            fake = unwrap_model(model).generator(x)
        for _ in range(recipe.n_critic):
            critic_optimizer.zero_grad(set_to_none=True)  # every critic step starts from zero gradients
            critic_loss = critic(x, fake).mean() - critic(x, y).mean()
            penalty = gradient_penalty(critic, x, y, fake)
            (critic_loss + recipe.gp_lambda * penalty).backward()
            _average_gradients(critic)
            critic_optimizer.step()
        critic_optimizer.zero_grad(set_to_none=True)  # no stale critic gradients in the generator's step
        critic.requires_grad_(False)
        pred = model(x)
        pixel = pixel_loss(pred, y, bool(batch["warmup"]), recipe.foreground_weight, threshold)
        generator_loss = recipe.pixel_weight * pixel - critic(x, pred).mean()
        critic.requires_grad_(True)
        return generator_loss, {"pixel_loss": float(pixel.detach()), "critic_loss": float(critic_loss.detach()),
                                "gradient_penalty": float(penalty.detach())}

    return adversarial if recipe.adversarial else plain


def validation_metrics(predictions: np.ndarray, targets: np.ndarray, std: float) -> dict[str, float]:
    """Mean vessel-ROI PSNR (range 0.5), background RMS and L1 (normalised) over validation pairs (V, H, W)."""
    roi_psnr, bg_rms = [], []
    for pred, target in zip(predictions, targets):
        roi = roi_mask(target, VESSEL_THRESHOLD, 3)
        roi_psnr.append(psnr(pred, target, 0.5, roi))
        bg_rms.append(rms(pred - target, ~roi))
    return {"val_loss": float(np.abs(predictions - targets).mean() / std), "val_roi_psnr": float(np.mean(roi_psnr)),
            "val_bg_rms": float(np.mean(bg_rms))}


@dataclass
class FitResult:
    """A trained model (EMA weights) and the Trainer's summary."""

    model: DSAModel
    result: TrainResult
    zero_val_loss: float


def fit(banks: Banks, recipe: RecipeConfig, run_dir: RunDir, seed: int, device: torch.device,
        ctx: DistributedContext | None = None, resume: bool = False, quiet: bool = False) -> FitResult:
    """Train a DSA model; checkpoints, TensorBoard and ``metrics.csv`` go to ``run_dir``.

    Args:
        banks: training banks and validation pairs (:func:`angiogen.tasks.dsa.data.build_banks`).
        recipe: the training recipe. seed: seed of initialisation and pair draws.
        device: where to train. ctx: the DDP context (None: one process).
        resume: continue from the run directory's latest checkpoint.
    """
    ctx = ctx or DistributedContext.from_env()
    torch.manual_seed(seed)
    generator = build_unet(recipe.base_channels)
    critic_optimizer = None
    if recipe.adversarial:  # DDP wraps the generator only: the critic is synchronised by hand
        module: nn.Module = GeneratorAndCritic(wrap_model(generator.to(device), ctx),
                                               ConditionalCritic(recipe.critic_channels).to(device))
    else:
        module = wrap_model(generator.to(device), ctx)
    betas = (0.5, 0.999) if recipe.adversarial else (0.9, 0.999)
    optimizer = torch.optim.Adam(generator.parameters(), lr=recipe.lr, betas=betas)
    if recipe.adversarial:
        critic_optimizer = torch.optim.Adam(unwrap_model(module).critic.parameters(), lr=recipe.critic_lr,
                                            betas=(0.5, 0.999))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.steps, eta_min=recipe.lr_min)
    ema = EMA(module, recipe.ema_decay, warmup=True)
    threshold = VESSEL_THRESHOLD / banks.std
    zero_val_loss = float(np.abs(banks.val_targets).mean() / banks.std)
    zero_roi_psnr = validation_metrics(np.zeros_like(banks.val_targets), banks.val_targets, banks.std)["val_roi_psnr"]

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        net = DSAModel(unwrap_model(unwrap_model(model).generator if recipe.adversarial else model),
                       banks.mean, banks.std, recipe.base_channels)
        predictions = net.predict(banks.val_inputs, device=device, tta=False)  # one view: fast, curves comparable
        return {**validation_metrics(predictions, banks.val_targets, banks.std), "val_loss_zero": zero_val_loss,
                "val_roi_psnr_zero": zero_roi_psnr}

    config = TrainConfig(max_steps=recipe.steps, precision=recipe.precision, log_every=recipe.log_every,
                         checkpoint_every=recipe.checkpoint_every, validate_every=recipe.validate_every,
                         grad_clip_norm=recipe.grad_clip_norm, resume=resume, quiet=quiet, keep_last=2)
    trainer = Trainer(module, optimizer, make_loss(recipe, threshold, critic_optimizer), run_dir, config,
                      scheduler=scheduler, ema=ema, extra_state={"recipe": recipe.model_dump(mode="json")},
                      companion_optimizers={"critic": critic_optimizer} if critic_optimizer is not None else None)
    result = trainer.fit(functools.partial(_batch, banks, recipe, seed, ctx), validate)
    ema.copy_to(module)
    trained = unwrap_model(module)
    net = unwrap_model(trained.generator) if recipe.adversarial else trained
    info = {"steps": result.step, "seed": seed, "recipe": recipe.model_dump(mode="json"),
            "last_metrics": result.last_metrics, "zero_val_loss": zero_val_loss}
    return FitResult(DSAModel(net.cpu(), banks.mean, banks.std, recipe.base_channels, info), result, zero_val_loss)
