"""Figures of the dsa task: the comparison grid (input | conventional | registered | ours | target). The training
curves are the shared :func:`angiogen.report.figures.plot_training_curves`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from angiogen.report.figures import image_grid

COLUMNS = (("live", "input (live)"), ("conventional", "live - mask (motion)"), ("registered", "registered DSA"),
           ("ours", "ours (no mask)"), ("target", "truth (vessel only)"))


def plot_comparison(path: str | Path, rows: dict[str, dict[str, np.ndarray]], overwrite: bool = False) -> Path:
    """One row per label (e.g. dose or frame) of the five columns; all vessel images share one grey scale, set by
    the strongest target (dark = iodine), so a faint or empty frame is not stretched into noise.

    Args:
        rows: ``{row label: {"live", "conventional", "registered", "ours", "target": (H, W) arrays}}``; other
            keys are ignored.
    """
    top = max(float(np.percentile(images["target"], 99.5)) for images in rows.values()) or 1.0
    grid = {label: {key: images[key] for key, _ in COLUMNS} for label, images in rows.items()}
    return image_grid(path, grid, cmap="gray_r", overwrite=overwrite, titles=dict(COLUMNS),
                      value_range=(-0.25 * top, top), own_scale=("live",))
