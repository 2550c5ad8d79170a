"""Figures of a scar reconstruction, drawn from arrays: 3D views of the nodes coloured by probability and
uncertainty, and each slice with the reconstructed field's cross-section overlaid."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from angiogen.report.figures import save_figure  # noqa: E402


def plot_mesh_fields(path: str | Path, points_mm: np.ndarray, probability: np.ndarray, uncertainty: np.ndarray,
                     max_points: int = 15_000, overwrite: bool = False) -> Path:
    """Two views each of the nodes (N, 3) in mm coloured by their ``probability`` and ``uncertainty`` (N,) (PNG)."""
    step = max(1, len(points_mm) // max_points)
    pts = points_mm[::step]
    fields = [(probability[::step], "scar probability", "magma", 0.0, 1.0),
              (uncertainty[::step], "scar uncertainty (MC std)", "viridis", 0.0, float(max(uncertainty.max(), 1e-6)))]
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
    return save_figure(figure, path, overwrite, tight_bbox=False)


def plot_slice_overlays(path: str | Path, slice_values: np.ndarray, fields: np.ndarray, threshold: float = 0.5,
                        overwrite: bool = False) -> Path:
    """One panel per slice: ``slice_values`` (S, NI, NJ) in grey with the reconstructed probability ``fields``
    (S, NI, NJ; NaN outside the myocardium) as a translucent colour layer and its ``threshold`` contour (red); the
    slice's own ``threshold`` contour in cyan."""
    n_slices = len(slice_values)
    n_cols = min(4, n_slices)
    n_rows = int(np.ceil(n_slices / n_cols))
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for s in range(n_slices):
        axis = axes[s // n_cols, s % n_cols]
        field = fields[s]
        axis.imshow(slice_values[s].T, cmap="gray", vmin=0, vmax=1, origin="lower")
        axis.imshow(np.ma.masked_invalid(field).T, cmap="magma", vmin=0, vmax=1, alpha=0.45, origin="lower")
        if np.nanmax(np.nan_to_num(field, nan=0.0)) >= threshold:
            axis.contour(np.nan_to_num(field, nan=0.0).T, levels=[threshold], colors="red", linewidths=0.8)
        if slice_values[s].max() >= threshold:
            axis.contour(slice_values[s].T, levels=[threshold], colors="cyan", linewidths=0.6)
        axis.set_title(f"slice {s}")
        axis.set_xticks([])
        axis.set_yticks([])
    for extra in range(n_slices, n_rows * n_cols):
        axes[extra // n_cols, extra % n_cols].axis("off")
    figure.suptitle("slices (grey, cyan = 0.5 contour) with the reconstruction (colour, red = 0.5 contour)")
    figure.tight_layout()
    return save_figure(figure, path, overwrite, tight_bbox=False)

