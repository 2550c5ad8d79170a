"""The uncrop network: MONAI's ``DiffusionModelUNet`` on the noisy image and its conditioning channels, with an
optional VAE prior, saved as one safetensors file (docs/methods/uncrop.md §3).

Conventions (docs/methods/uncrop.md §2.1): images in [0, 1] outside the model, [-1, 1] inside; ``missing`` is 1
outside the collimator opening (the region to generate) and 0 inside it. The conditioning channels, all taken
from the collimated image ``B`` (never from the ground truth):

- ``known``: ``B`` in the opening, 0 in the missing region;
- ``missing``: the mask itself;
- ``outside``: ``B``'s missing region blurred (sigma ``outside_blur_px``, normalised convolution, so the opening
  does not bleed in) and standardised over the missing region, the faint anatomy the collimator lets through;
- ``prior`` (only with a VAE prior): the VAE's field, ``rows`` (the method's row-wise posterior: latent dimension i
  sets the mean and spread of image row i) or ``spatial`` (a coarse latent map, upsampled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import DiffusionModelUNet
from pydantic import Field, field_validator, model_validator
from torch import nn

from angiogen.config import Config
from angiogen.train.model_file import read_model_file, write_model_file
from angiogen.tasks.uncrop.prior import VAEPrior, build_prior
from angiogen.xray.physics import gaussian_blur

FORMAT = "angiogen.uncrop.model/1"
PRIORS = ("none", "rows", "spatial")
OBJECTIVES = ("diffusion", "regression")
CONDITION_CHANNELS = 3  # known, missing, outside


class ModelConfig(Config):
    """What a saved model is made of (defaults: the bundled CPU model of docs/methods/uncrop.md §4)."""

    size: int = Field(128, ge=16, description="Core resolution the network runs at (square).")
    channels: list[int] = Field(default_factory=lambda: [16, 32, 64, 64], min_length=2)
    num_res_blocks: int = Field(1, ge=1)
    norm_groups: int = Field(8, ge=1)
    head_channels: int = Field(16, ge=1)
    prior: str = Field("none", description="VAE prior: none, rows (the method's) or spatial.")
    prior_channels: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    objective: str = Field("diffusion", description="diffusion, or regression (the same U-Net, L1, one pass).")
    outside_blur_px: float = Field(1.5, gt=0, description="Blur of B's outside, px at the core size.")
    train_timesteps: int = Field(2000, ge=2)
    beta_start: float = Field(1e-6, gt=0)
    beta_end: float = Field(0.01, gt=0, lt=1)

    @field_validator("prior")
    @classmethod
    def _known_prior(cls, value: str) -> str:
        if value not in PRIORS:
            raise ValueError(f"must be one of {', '.join(PRIORS)}")
        return value

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, value: str) -> str:
        if value not in OBJECTIVES:
            raise ValueError(f"must be one of {', '.join(OBJECTIVES)}")
        return value

    @model_validator(mode="after")
    def _fits(self) -> ModelConfig:
        multiple = 2 ** (len(self.channels) - 1)
        if self.size % multiple or self.size % 2 ** len(self.prior_channels):
            raise ValueError(f"size {self.size} must be a multiple of {multiple} (U-Net levels) and of "
                             f"{2 ** len(self.prior_channels)} (prior encoder)")
        if any(width % self.norm_groups for width in self.channels):
            raise ValueError(f"every channel width must be a multiple of norm_groups {self.norm_groups}")
        if self.beta_end <= self.beta_start:
            raise ValueError("beta_end must exceed beta_start")
        return self

    @property
    def in_channels(self) -> int:
        """Network inputs: the noisy image, the conditioning channels and the prior's field if any."""
        return 1 + CONDITION_CHANNELS + (self.prior != "none")


def build_unet(config: ModelConfig) -> DiffusionModelUNet:
    """The denoiser: attention only at the lowest level (and MONAI's middle block), scale-shift time embedding."""
    levels = len(config.channels)
    return DiffusionModelUNet(spatial_dims=2, in_channels=config.in_channels, out_channels=1,
                              channels=tuple(config.channels), num_res_blocks=config.num_res_blocks,
                              attention_levels=(False,) * (levels - 1) + (True,), norm_num_groups=config.norm_groups,
                              num_head_channels=config.head_channels, resblock_updown=True)


class UncropNet(nn.Module):
    """The trained module: the U-Net and, with a prior, its VAE (trained jointly, see ``train.py``)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = build_unet(config)
        self.prior: VAEPrior | None = build_prior(config.prior, config.size, config.prior_channels)

    def forward(self, noisy: torch.Tensor, condition: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The U-Net's output (noise for diffusion, the image for regression) for (B, 1, H, W) ``noisy`` images,
        (B, C, H, W) ``condition`` (from :func:`condition_channels`, with the prior field appended) and (B,)
        integer ``timesteps``."""
        return self.unet(torch.cat([noisy, condition], dim=1), timesteps)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return images * 2.0 - 1.0


def blurred_outside(collimated: torch.Tensor, missing: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """``collimated``'s missing region blurred by normalised convolution and standardised over that region, 0 in
    the opening; (B, 1, H, W) in, (B, 1, H, W) out, values about in [-1, 1] (z-scores / 4, clipped)."""
    weight = gaussian_blur(missing[:, 0], sigma_px).clamp(min=1e-3)
    smooth = gaussian_blur((collimated * missing)[:, 0], sigma_px) / weight
    smooth = smooth[:, None]
    count = missing.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    mean = (smooth * missing).sum(dim=(2, 3), keepdim=True) / count
    var = (((smooth - mean) * missing) ** 2).sum(dim=(2, 3), keepdim=True) / count
    return ((smooth - mean) / (4.0 * var.sqrt().clamp(min=1e-4))).clamp(-1.0, 1.0) * missing


def condition_channels(collimated: torch.Tensor, missing: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """The (B, 3, H, W) conditioning of :mod:`uncrop.model` from (B, 1, H, W) ``collimated`` images in [0, 1] and
    their ``missing`` masks (1 = to generate)."""
    known = to_model_range(collimated) * (1.0 - missing)
    return torch.cat([known, missing, blurred_outside(collimated, missing, config.outside_blur_px)], dim=1)


@dataclass
class UncropModel:
    """A trained uncrop network (EMA weights) with its configuration and training facts."""

    net: UncropNet
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        """The network's configuration."""
        return self.net.config

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write weights, configuration and ``info`` to a ``.safetensors`` file atomically."""
        return write_model_file(path, self.net, FORMAT, {"model": self.config.model_dump(mode="json"),
                                                         "info": self.info}, overwrite)


def load_model(path: str | Path) -> UncropModel:
    """Read a model written by :meth:`UncropModel.save`.

    Raises:
        InputError: missing or unreadable file, not an uncrop model, or weights that do not fit its configuration.
    """
    model_file = read_model_file(path, FORMAT, "an uncrop model")
    config = ModelConfig.build(model_file.value("model"), source=path)
    net = model_file.load_into(UncropNet(config), f"an uncrop network {config.channels} at {config.size} px")
    return UncropModel(net.eval(), model_file.value("info", {}))


def resize(images: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) images resized to ``size`` (``area`` when shrinking with ``bilinear``, to avoid aliasing)."""
    target = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == target:
        return images
    if mode == "nearest":
        return F.interpolate(images, size=target, mode="nearest")
    shrinking = target[0] < images.shape[-2] and target[1] < images.shape[-1]
    if shrinking:
        return F.interpolate(images, size=target, mode="area")
    return F.interpolate(images, size=target, mode="bilinear", align_corners=False)


def resize_image(image: np.ndarray, size: int | tuple[int, int], nearest: bool = False) -> np.ndarray:
    """One (H, W) array resized like :func:`resize` (``nearest`` for masks), as float32."""
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]
    return resize(tensor, size, "nearest" if nearest else "bilinear")[0, 0].numpy()
