"""Full-field completions of collimated images at their own size (docs/methods/uncrop.md §3, §4).

The network runs at its core size: the collimated image is shrunk to it (area average), K completions are sampled
in one batch, their mean and per-pixel standard deviation are enlarged back (bilinear), and the measured image is
put back: exactly inside the opening, blended into the completion over ``feather_px`` pixels outside it (a
linear ramp of the distance to the opening), so there is no seam and no measured pixel is changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from angiogen.errors import InputError
from angiogen.tasks.uncrop.diffusion import ProgressFn, sample
from angiogen.tasks.uncrop.model import UncropModel, resize

FEATHER_PX = 4.0


@dataclass
class Completion:
    """One image's completion, (H, W) float32 in [0, 1] at the input's size.

    Attributes:
        mean: mean of the K samples (the estimate to use), measured pixels kept.
        std: per-pixel standard deviation of the samples (0 in the opening).
        samples: (K, H, W) the samples themselves, measured pixels kept.
    """

    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray


def check_opening(opening: np.ndarray, name: str) -> None:
    """Refuse a mask with no opening or no missing region, naming ``name``."""
    if not opening.any():
        raise InputError("the mask has no opening (all black)", name)
    if opening.all():
        raise InputError("the mask is open everywhere (all white): nothing to recover", name)


def blend_weight(opening: np.ndarray, feather_px: float = FEATHER_PX) -> np.ndarray:
    """Weight of the measured image: 1 in the opening, falling linearly to 0 at ``feather_px`` outside it."""
    if feather_px <= 0:
        return opening.astype(np.float32)
    distance = ndimage.distance_transform_edt(~opening)
    return np.clip(1.0 - distance / feather_px, 0.0, 1.0).astype(np.float32)


def complete(model: UncropModel, collimated: np.ndarray, opening: np.ndarray, n_samples: int = 8, steps: int = 25,
             seed: int = 0, device: torch.device | str = "cpu", feather_px: float = FEATHER_PX,
             progress: ProgressFn | None = None) -> Completion:
    """Complete one (H, W) ``collimated`` image in [0, 1] with its ``opening`` (True = measured).

    Args:
        n_samples: K, the completions drawn (in one batch). steps: DDIM steps.
        seed: seed of the sampler (same seed, same output). feather_px: width of the blend outside the opening.
    """
    size = model.config.size
    height, width = collimated.shape
    image = torch.from_numpy(np.asarray(collimated, np.float32))[None, None]
    opened = torch.from_numpy(opening.astype(np.float32))[None, None]
    small = resize(image, size).to(device)
    missing = (resize(opened, size) < 0.5).float().to(device)
    net = model.net.to(device)
    drawn = sample(net, small, missing, n_samples, steps, torch.Generator().manual_seed(int(seed)), progress)
    samples = resize(drawn.cpu(), (height, width))[0].clamp(0.0, 1.0).numpy()
    weight = blend_weight(opening, feather_px)
    samples = weight * collimated[None] + (1.0 - weight) * samples
    samples[:, opening] = collimated[opening]
    mean = samples.mean(axis=0)
    std = samples.std(axis=0) if n_samples > 1 else np.zeros_like(collimated)
    mean[opening], std[opening] = collimated[opening], 0.0  # exact: a float mean of K equal values may round
    return Completion(mean.astype(np.float32), std.astype(np.float32), samples.astype(np.float32))
