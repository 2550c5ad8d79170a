"""Training losses and the DDIM sampler of uncrop (docs/methods/uncrop.md §2.5, §3), on MONAI's ``DDIMScheduler``.

One schedule for training and sampling: linear beta from ``beta_start`` to ``beta_end`` over ``train_timesteps``
(1e-6 .. 0.01 over 2000 steps, the method's). Training predicts the noise: ``y_t = sqrt(abar) y0 + sqrt(1 - abar)
eps``, the network sees ``y_t`` in the missing region and the known image in the opening, and the loss is the mean
squared noise error over the missing pixels only (the method's sum over missing pixels divided by all pixels, here
by the missing ones, so that small and large openings weigh alike). The regression objective runs the same U-Net
once (zero noisy channel, t = 0) and takes the L1 error of its image over the missing pixels.

Sampling: K draws per image in one batch; the missing region starts from N(0, I); DDIM with eta = 0 and x0 clipped
to [-1, 1]; after every step the opening is reset to the known image. A seeded generator makes it deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.networks.schedulers import DDIMScheduler
from torch import nn

from angiogen.tasks.uncrop.model import ModelConfig, UncropNet, condition_channels, to_model_range

ProgressFn = Callable[[int, int], None]


def make_scheduler(config: ModelConfig) -> DDIMScheduler:
    """The one noise schedule of a model (its ``train_timesteps`` and linear beta range)."""
    return DDIMScheduler(num_train_timesteps=config.train_timesteps, schedule="linear_beta",
                         beta_start=config.beta_start, beta_end=config.beta_end, clip_sample=True)


def full_condition(net: UncropNet, collimated: torch.Tensor, missing: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The conditioning channels plus, with a prior, a draw of its field (B, C, H, W)."""
    condition = condition_channels(collimated, missing, net.config)
    if net.prior is None:
        return condition
    return torch.cat([condition, net.prior.field(collimated, missing, generator)], dim=1)


def masked_mean(values: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the missing pixels of each image, then over the batch."""
    per_image = (values * missing).sum(dim=(1, 2, 3)) / missing.sum(dim=(1, 2, 3)).clamp(min=1.0)
    return per_image.mean()


def training_loss(net: UncropNet, scheduler: DDIMScheduler, full: torch.Tensor, collimated: torch.Tensor,
                  missing: torch.Tensor, timesteps: torch.Tensor | None = None,
                  noise: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch of (B, 1, H, W) ``full`` targets, ``collimated`` inputs (both in [0, 1]) and
    ``missing`` masks: the diffusion or regression loss, plus the VAE's own loss when there is a prior.
    ``timesteps`` (B,) and ``noise`` (like ``full``) are drawn from the global RNG when not given (the training
    batches give them, drawn from the batch's own seed, so that a batch does not depend on the process)."""
    target = to_model_range(full)
    known = to_model_range(collimated) * (1.0 - missing)
    condition = full_condition(net, collimated, missing)
    if net.config.objective == "regression":
        zeros = torch.zeros(len(full), dtype=torch.long, device=full.device)
        estimate = net(torch.zeros_like(target), condition, zeros)
        loss = masked_mean((estimate - target).abs(), missing)
    else:
        if timesteps is None:
            timesteps = torch.randint(0, net.config.train_timesteps, (len(full),), device=full.device)
        if noise is None:
            noise = torch.randn_like(target)
        noisy = scheduler.add_noise(target, noise, timesteps)
        predicted = net(noisy * missing + known, condition, timesteps)
        loss = masked_mean((predicted - noise) ** 2, missing)
    parts: dict[str, torch.Tensor] = {}
    if net.prior is not None:
        prior_loss, parts = net.prior.loss(collimated, missing)
        loss = loss + prior_loss
    return loss, parts


class TrainingObjective(nn.Module):
    """:func:`training_loss` as a module: DDP synchronises the gradients of what runs inside a wrapped module's
    ``forward``, so the U-Net and the prior are trained through this wrapper (``.net`` is the network)."""

    def __init__(self, net: UncropNet, scheduler: DDIMScheduler) -> None:
        super().__init__()
        self.net = net
        self.scheduler = scheduler

    def forward(self, full: torch.Tensor, collimated: torch.Tensor, missing: torch.Tensor,
                timesteps: torch.Tensor | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and its logged parts (see :func:`training_loss`)."""
        return training_loss(self.net, self.scheduler, full, collimated, missing, timesteps, noise)


@torch.no_grad()
def sample(net: UncropNet, collimated: torch.Tensor, missing: torch.Tensor, n_samples: int = 8, steps: int = 25,
           generator: torch.Generator | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
    """``n_samples`` completions of each of (B, 1, H, W) ``collimated`` images in [0, 1] with ``missing`` masks,
    as (B, n_samples, H, W) in [0, 1]; the opening holds the known image exactly.

    Args:
        steps: DDIM steps (regression: ignored, one pass; the samples are then all alike).
        generator: a seeded CPU generator for the start noise and prior draws (same seed, same output).
        progress: called as ``progress(done, total)`` after every step.
    """
    net.eval()
    batch, _, height, width = collimated.shape
    collimated_k = collimated.repeat_interleave(n_samples, dim=0)
    missing_k = missing.repeat_interleave(n_samples, dim=0)
    known = to_model_range(collimated_k) * (1.0 - missing_k)
    draws = torch.Generator().manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    condition = full_condition(net, collimated_k, missing_k, draws)
    device = collimated.device
    if net.config.objective == "regression":
        zeros = torch.zeros(len(known), dtype=torch.long, device=device)
        image = net(torch.zeros_like(known), condition, zeros).clamp(-1.0, 1.0)
        if progress is not None:
            progress(1, 1)
    else:
        scheduler = make_scheduler(net.config)
        scheduler.set_timesteps(steps, device=device)
        noise = torch.randn(known.shape, generator=draws).to(device)
        image = noise * missing_k + known
        for done, timestep in enumerate(scheduler.timesteps, start=1):
            times = torch.full((len(image),), int(timestep), dtype=torch.long, device=device)
            predicted = net(image, condition, times)
            image, _ = scheduler.step(predicted, int(timestep), image)
            image = image * missing_k + known
            if progress is not None:
                progress(done, len(scheduler.timesteps))
    result = (image.clamp(-1.0, 1.0) + 1.0) / 2.0
    result = result * missing_k + collimated_k * (1.0 - missing_k)
    return result.view(batch, n_samples, height, width)
