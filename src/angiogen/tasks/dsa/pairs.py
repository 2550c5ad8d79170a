"""Training pairs drawn on the fly from the banks (docs/methods/dsa.md §2.3, §2.4 and §4).

Batch ``index`` is a pure function of (seed, index), so a resumed run sees the batches an unbroken run would.
Per sample: a random background and a random vessel image (random rot90 / flip of its own); a joint augmentation of
the two noise-free images (flips, rot90, affine scale / rotation / shear with zero fill, box blur, multiply: each
keeps live = background + vessel); an iodine excess ``delta_mu`` (1/mm) and a dose N0 (log-uniform); then

    target = delta_mu * path_length                      (noise-free, vessel-only line integrals)
    live   = -ln(Poisson(N0 exp(-(background + target))) / N0)

and a crop, centred on a vessel pixel with probability ``vessel_centred``. Inputs and targets are normalised by the
background statistics: x = (live - mean) / std, y = target / std.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from angiogen.config import Config
from angiogen.synth.angio import frame_generator
from angiogen.tasks.dsa.data import Banks
from angiogen.xray.physics import add_noise

PAIR_STREAM = 100
VESSEL_THRESHOLD = 0.01  # line integral above which a pixel "carries iodine" (docs/methods/dsa.md §2.8)


class PairConfig(Config):
    """How training pairs are drawn and augmented."""

    batch_size: int = Field(8, ge=1)
    crop_px: int = Field(64, ge=16, description="Side of the training crop (a multiple of the net's 16).")
    vessel_centred: float = Field(0.75, ge=0, le=1, description="Share of crops centred on a vessel pixel.")
    # Training iodine range, wider than the physical 0.01-0.05 1/mm of the test set towards the paper's contrast
    # (docs/methods/dsa.md §4): with faint vessels only, the small CPU model keeps tracing bone edges instead of vessels.
    delta_mu_range: tuple[float, float] = (0.01, 0.15)
    dose_range: tuple[float, float] = (5e4, 5e5)
    flip_p: float = Field(0.5, ge=0, le=1, description="Probability of each of the horizontal and vertical flips.")
    rot90: bool = True
    affine_p: float = Field(1.0, ge=0, le=1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    shear_deg: float = Field(10.0, ge=0)
    blur_p: float = Field(0.8, ge=0, le=1)
    blur_max_px: int = Field(3, ge=0, description="Largest box-blur kernel side.")
    multiply_p: float = Field(0.8, ge=0, le=1)
    multiply_range: tuple[float, float] = (0.7, 1.3)


def affine_matrices(rng: np.random.Generator, n: int, config: PairConfig) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for ``F.affine_grid``: scale, rotation 0-360 deg and shear (identity when off)."""
    matrices = np.tile(np.eye(2, 3), (n, 1, 1))
    for k in range(n):
        if rng.random() >= config.affine_p:
            continue
        scale = rng.uniform(*config.scale_range)
        angle = rng.uniform(0, 2 * math.pi)
        shear = math.tan(math.radians(rng.uniform(-config.shear_deg, config.shear_deg)))
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        forward = scale * rotation @ np.array([[1.0, shear], [0.0, 1.0]])
        matrices[k, :, :2] = np.linalg.inv(forward)  # the grid samples the input at the inverse map
    return torch.from_numpy(matrices).float()


def box_blur(images: torch.Tensor, size: int) -> torch.Tensor:
    """Mean filter of side ``size`` px (replicated edges) over (C, H, W) images; size <= 1 returns the input."""
    if size <= 1:
        return images
    left, right = (size - 1) // 2, size // 2
    padded = F.pad(images[None], (left, right, left, right), mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)[0]


def augment(backgrounds: torch.Tensor, vessels: torch.Tensor, rng: np.random.Generator,
            config: PairConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One joint realisation per sample of (B, H, W) backgrounds and vessel path lengths; returns new tensors."""
    pair = torch.stack([backgrounds, vessels], dim=1)  # (B, 2, H, W)
    for k in range(len(pair)):
        if rng.random() < config.flip_p:
            pair[k] = pair[k].flip(-1)
        if rng.random() < config.flip_p:
            pair[k] = pair[k].flip(-2)
        if config.rot90:
            pair[k] = torch.rot90(pair[k], int(rng.integers(4)), dims=(-2, -1))
    grid = F.affine_grid(affine_matrices(rng, len(pair), config), list(pair.shape), align_corners=False)
    pair = F.grid_sample(pair, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    for k in range(len(pair)):
        if rng.random() < config.blur_p:
            pair[k] = box_blur(pair[k], int(rng.integers(0, config.blur_max_px + 1)))
        if rng.random() < config.multiply_p:
            pair[k] = pair[k] * float(rng.uniform(*config.multiply_range))
    return pair[:, 0], pair[:, 1]


def crop_origins(targets: torch.Tensor, rng: np.random.Generator, crop: int, vessel_centred: float) -> list[tuple[int, int]]:
    """Top-left corners of one crop per (H, W) target: on a random vessel pixel or anywhere."""
    height, width = targets.shape[-2:]
    origins = []
    for target in targets:
        rows, cols = torch.nonzero(target > VESSEL_THRESHOLD, as_tuple=True)
        if len(rows) and rng.random() < vessel_centred:
            pick = int(rng.integers(len(rows)))
            row, col = int(rows[pick]) - crop // 2, int(cols[pick]) - crop // 2
        else:
            row, col = int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))
        origins.append((min(max(row, 0), height - crop), min(max(col, 0), width - crop)))
    return origins


def draw_pairs(banks: Banks, config: PairConfig, seed: int, index: int, crop: bool = True,
               augmentation: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch ``index`` of noisy live frames and vessel-only targets, in line-integral units.

    Returns:
        live, target: (B, 1, h, w) float32; doses: (B,) photons per pixel.
    """
    rng = np.random.default_rng([int(seed), PAIR_STREAM, int(index)])
    size = config.batch_size
    backgrounds = torch.from_numpy(banks.backgrounds[rng.integers(len(banks.backgrounds), size=size)].copy())
    vessels = torch.from_numpy(banks.vessels[rng.integers(len(banks.vessels), size=size)].copy())
    for k in range(size):  # the vessel image's own orientation, independent of the background's
        vessels[k] = torch.rot90(vessels[k], int(rng.integers(4)), dims=(-2, -1))
        if rng.random() < 0.5:
            vessels[k] = vessels[k].flip(-1)
    if augmentation:
        backgrounds, vessels = augment(backgrounds, vessels, rng, config)
    delta_mu = torch.from_numpy(rng.uniform(*config.delta_mu_range, size=size)).float()
    doses = np.exp(rng.uniform(*np.log(config.dose_range), size=size))
    targets = delta_mu[:, None, None] * vessels
    generator = frame_generator(seed, PAIR_STREAM, index)
    live = torch.stack([add_noise(backgrounds[k] + targets[k], float(doses[k]), generator) for k in range(size)])
    if crop:
        side = config.crop_px
        origins = crop_origins(targets, rng, side, config.vessel_centred)
        live = torch.stack([live[k, r:r + side, c:c + side] for k, (r, c) in enumerate(origins)])
        targets = torch.stack([targets[k, r:r + side, c:c + side] for k, (r, c) in enumerate(origins)])
    return live[:, None].float(), targets[:, None].float(), torch.from_numpy(doses).float()
