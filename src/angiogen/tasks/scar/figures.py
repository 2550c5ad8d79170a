"""Figures of a scar reconstruction: 3D views of the nodes coloured by probability and uncertainty, and each slice
with the reconstructed field's cross-section overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from angiogen.io.atomic import atomic_path  # noqa: E402
from angiogen.tasks.scar.data import ScarData  # noqa: E402
from angiogen.tasks.scar.model import ScarModel  # noqa: E402

if TYPE_CHECKING:
    from angiogen.tasks.scar.infer import Reconstruction


def plot_mesh_fields(path: str | Path, points_mm: np.ndarray, recon: Reconstruction, max_points: int = 15_000,
                     overwrite: bool = False) -> Path:
    """Two views each of the nodes coloured by ``scar_probability`` and ``scar_uncertainty`` (PNG)."""
    step = max(1, len(points_mm) // max_points)
    pts = points_mm[::step]
    fields = [(recon.probability[::step], "scar probability", "magma", 0.0, 1.0),
              (recon.uncertainty[::step], "scar uncertainty (MC std)", "viridis", 0.0,
               float(max(recon.uncertainty.max(), 1e-6)))]
    figure = plt.figure(figsize=(11, 9))
    for row, (values, title, cmap, vmin, vmax) in enumerate(fields):
        for col, (elev, azim) in enumerate(((20, -60), (20, 120))):
            axis = figure.add_subplot(2, 2, 2 * row + col + 1, projection="3d")
            order = np.argsort(values)  # draw high values last
            scatter = axis.scatter(pts[order, 0], pts[order, 1], pts[order, 2], c=values[order], cmap=cmap,
                                   vmin=vmin, vmax=vmax, s=2, linewidths=0)
            axis.view_init(elev=elev, azim=azim)
            axis.set_title(f"{title}, view {col + 1}")
            axis.set_xlabel("x (mm)")
            axis.set_ylabel("y (mm)")
            axis.set_zlabel("z (mm)")
            axis.set_box_aspect(np.ptp(pts, axis=0))
            figure.colorbar(scatter, ax=axis, shrink=0.6)
    figure.tight_layout()
    return _save(figure, path, overwrite)


def plot_slice_overlays(path: str | Path, data: ScarData, model: ScarModel, threshold: float = 0.5,
                        n_samples: int = 10, seed: int = 0, overwrite: bool = False) -> Path:
    """One panel per slice: the slice values (grey) with the reconstructed probability on the slice plane
    (MC mean, pixels within one node spacing of a node) as a translucent colour layer and its ``threshold`` contour (red); the
    slice's own ``threshold`` contour in cyan."""
    from angiogen.tasks.scar.infer import mc_samples

    from scipy.spatial import cKDTree

    stack = data.slices
    tree = cKDTree(data.points_mm)
    node_spacing = float(np.median(tree.query(data.points_mm[:: max(1, len(data.points_mm) // 2000)], k=2)[0][:, 1]))
    n_cols = min(4, stack.n_slices)
    n_rows = int(np.ceil(stack.n_slices / n_cols))
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for s in range(stack.n_slices):
        axis = axes[s // n_cols, s % n_cols]
        centres = stack.pixel_centres(s).reshape(-1, 3)
        field = mc_samples(model, centres, n_samples, seed).mean(0).numpy().reshape(stack.values.shape[1:])
        near = tree.query(centres, k=1, distance_upper_bound=node_spacing)[0] < np.inf  # pixel in the myocardium
        field = np.where(near.reshape(field.shape), field, np.nan)
        axis.imshow(stack.values[s].T, cmap="gray", vmin=0, vmax=1, origin="lower")
        axis.imshow(np.ma.masked_invalid(field).T, cmap="magma", vmin=0, vmax=1, alpha=0.45, origin="lower")
        if np.nanmax(np.nan_to_num(field, nan=0.0)) >= threshold:
            axis.contour(np.nan_to_num(field, nan=0.0).T, levels=[threshold], colors="red", linewidths=0.8)
        if stack.values[s].max() >= threshold:
            axis.contour(stack.values[s].T, levels=[threshold], colors="cyan", linewidths=0.6)
        axis.set_title(f"slice {s}")
        axis.set_xticks([])
        axis.set_yticks([])
    for extra in range(stack.n_slices, n_rows * n_cols):
        axes[extra // n_cols, extra % n_cols].axis("off")
    figure.suptitle("slices (grey, cyan = 0.5 contour) with the reconstruction (colour, red = 0.5 contour)")
    figure.tight_layout()
    return _save(figure, path, overwrite)


def _save(figure: plt.Figure, path: str | Path, overwrite: bool) -> Path:
    with atomic_path(path, overwrite) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)
    return Path(path)
