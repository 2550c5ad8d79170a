"""A conditional 2-D critic for WGAN-GP training (docs/methods/dsa.md §2.5).

Input: the concatenation of the condition and the image, (B, 2, H, W). Four-by-four stride-2 convolutions with
instance norm and LeakyReLU(0.2) halve the size per level, a 3x3 block follows at the last width, and a 1x1
convolution gives a score map that is averaged to one score per sample (any input size that is a multiple of
2 ** levels).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _block(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=1),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.LeakyReLU(0.2),
    )


class ConditionalCritic(nn.Module):
    """WGAN critic over (condition, image) pairs.

    Args:
        channels: widths of the stride-2 levels (the method's (32, 64, 128, 256, 512); default a CPU-size 4 levels).
        in_channels: channels of condition + image.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), in_channels: int = 2) -> None:
        super().__init__()
        layers, previous = [], in_channels
        for width in channels:
            layers.append(_block(previous, width, 4, 2))
            previous = width
        layers += [_block(previous, previous, 3, 1), nn.Conv2d(previous, 1, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of (B, 1, H, W) conditions and images."""
        return self.layers(torch.cat([condition, image], dim=1)).mean(dim=(1, 2, 3))


def gradient_penalty(critic: ConditionalCritic, condition: torch.Tensor, real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP term E[(||grad D(x, z)||_2 - 1)^2] at per-sample uniform interpolates z of real and fake images."""
    weight = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
    scores = critic(condition, mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
