"""The baselines every uncrop result is set beside (docs/methods/uncrop.md §3), all from the collimated image and
its opening only (never the truth), each keeping the opening as measured:

- ``mean_fill``: the missing region filled with the mean of the opening;
- ``train_mean``: the training-set mean image, offset so that its mean over the opening matches the image's;
- ``nearest``: the training image closest over the opening (mean squared difference after matching the means),
  offset likewise;
- ``biharmonic``: scikit-image's biharmonic inpainting of the missing region.

With ~90 % of the field missing, pixel metrics reward the conditional mean, which makes the first two strong.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage.restoration import inpaint_biharmonic

from angiogen.tasks.uncrop.model import resize_image

Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]
BASELINES = ("mean_fill", "train_mean", "nearest", "biharmonic")


def _keep_opening(fill: np.ndarray, collimated: np.ndarray, opening: np.ndarray) -> np.ndarray:
    return np.where(opening, collimated, fill).astype(np.float32)


def mean_fill(collimated: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """The opening as measured, its mean everywhere else."""
    return _keep_opening(np.full_like(collimated, collimated[opening].mean()), collimated, opening)


def biharmonic(collimated: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of the missing region (smooth continuation of the opening)."""
    filled = inpaint_biharmonic(collimated.astype(np.float64), ~opening)
    return _keep_opening(np.clip(filled, 0.0, 1.0), collimated, opening)


class TrainingSetBaselines:
    """``train_mean`` and ``nearest`` over (N, h, w) training full-field images in [0, 1]."""

    def __init__(self, train_full: np.ndarray) -> None:
        self.train_full = np.asarray(train_full, dtype=np.float32)
        self.mean_image = self.train_full.mean(axis=0)

    def train_mean(self, collimated: np.ndarray, opening: np.ndarray) -> np.ndarray:
        """The training mean image at the image's size, offset to the opening's mean."""
        template = resize_image(self.mean_image, collimated.shape)
        offset = collimated[opening].mean() - template[opening].mean()
        return _keep_opening(np.clip(template + offset, 0.0, 1.0), collimated, opening)

    def nearest(self, collimated: np.ndarray, opening: np.ndarray) -> np.ndarray:
        """The training image that matches the opening best (means matched), offset to the opening's mean."""
        small = resize_image(collimated, self.train_full.shape[-2:])
        inside = resize_image(opening.astype(np.float32), self.train_full.shape[-2:]) > 0.5
        if not inside.any():
            inside = np.ones_like(inside)
        candidates = self.train_full[:, inside]
        query = small[inside]
        centred = candidates - candidates.mean(axis=1, keepdims=True)
        distance = ((centred - (query - query.mean())) ** 2).mean(axis=1)
        chosen = resize_image(self.train_full[int(np.argmin(distance))], collimated.shape)
        offset = collimated[opening].mean() - chosen[opening].mean()
        return _keep_opening(np.clip(chosen + offset, 0.0, 1.0), collimated, opening)

    def all(self) -> dict[str, Baseline]:
        """Every baseline by name, in :data:`BASELINES` order."""
        return {"mean_fill": mean_fill, "train_mean": self.train_mean, "nearest": self.nearest,
                "biharmonic": biharmonic}
