"""Figure helpers every task shares: the atomic PNG save, a grid of named images, a run's training curves, and
views of a (D, H, W) volume (orthogonal mid-slices and MIPs as a PNG, a slice sweep as an animated GIF)."""

from __future__ import annotations

import csv
from collections.abc import Collection, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from angiogen.errors import InputError  # noqa: E402
from angiogen.io.atomic import atomic_path  # noqa: E402

#: Resolution of every saved figure, dots per inch.
DPI = 110


def save_figure(figure: plt.Figure, path: str | Path, overwrite: bool = False, tight_bbox: bool = True) -> Path:
    """Write ``figure`` to ``path`` as a PNG atomically (temporary file, then rename) and close it.

    Args:
        figure: the matplotlib figure; closed afterwards even when the write fails.
        path: target file; its folder is created.
        overwrite: replace an existing file; without it an existing ``path`` raises :class:`InputError`
            ("exists already; pass --overwrite to replace it"), as every angiogen writer does.
        tight_bbox: crop the saved image to the drawn content (``bbox_inches="tight"``); False keeps the figure
            size exactly (``figsize`` x ``DPI`` pixels).
    """
    try:
        with atomic_path(path, overwrite) as tmp:
            figure.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight" if tight_bbox else None)
    finally:
        plt.close(figure)
    return Path(path)


def image_grid(path: str | Path, rows: Mapping[str, Mapping[str, np.ndarray]], shared_scale: bool = True,
               colorbar: bool = False, cmap: str = "gray", overwrite: bool = False, *,
               titles: Mapping[str, str] | None = None, value_range: tuple[float, float] | None = None,
               own_scale: Collection[str] = ()) -> Path:
    """A grid of 2D images: one row per row label, one column per image name (the first row's names, in order).

    Args:
        rows: ``{row label: {column name: (H, W) array}}``; every row holds the same column names.
        shared_scale: True: every panel uses one grey scale (``value_range``, default the min..max of all
            panels), so equal values have equal colour everywhere; False: one scale per column (its min..max
            over the rows).
        colorbar: draw a colour bar beside every panel.
        cmap: matplotlib colour map (e.g. ``"gray"``, ``"gray_r"``).
        titles: column title per column name (default: the name).
        value_range: ``(vmin, vmax)`` of the shared scale.
        own_scale: column names left to matplotlib's automatic scale of each image (e.g. a raw input).
    Returns:
        ``path`` (PNG, cropped to the content).
    """
    if not rows:
        raise InputError("image_grid needs at least one row of images")
    columns = list(next(iter(rows.values())))
    for label, images in rows.items():
        if list(images) != columns:
            raise InputError(f"image_grid row {label!r} holds columns {list(images)}, expected {columns}")
    panels = [np.asarray(images[name], dtype=float) for images in rows.values() for name in columns
              if name not in own_scale]
    if value_range is None and panels:
        value_range = (min(float(np.nanmin(p)) for p in panels), max(float(np.nanmax(p)) for p in panels))
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 2.7 * len(rows)),
                                squeeze=False)
    for col, name in enumerate(columns):
        column = [np.asarray(images[name], dtype=float) for images in rows.values()]
        if name in own_scale:
            vmin = vmax = None
        elif shared_scale:
            vmin, vmax = value_range  # type: ignore[misc]
        else:
            vmin, vmax = min(float(np.nanmin(c)) for c in column), max(float(np.nanmax(c)) for c in column)
        for row, (label, image) in enumerate(zip(rows, column)):
            axis = axes[row, col]
            shown = axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
            if colorbar:
                figure.colorbar(shown, ax=axis, shrink=0.8)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title((titles or {}).get(name, name), fontsize=9)
            if col == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path, overwrite)


#: The dsa run's validation series and their legend labels (the default of :func:`plot_training_curves`).
DSA_VALIDATION_SERIES = {"val_roi_psnr": "model", "val_roi_psnr_zero": "all-zero prediction"}


def plot_training_curves(path: str | Path, metrics_csv: str | Path, overwrite: bool = False, *,
                         validation_series: Mapping[str, str] | None = None,
                         loss_title: str = "training loss (MSE warm-up, then weighted L1)",
                         validation_title: str = "validation vessel-ROI PSNR (dB)") -> Path:
    """Training loss by step (log scale) beside validation series, read from a run's ``metrics.csv`` (columns
    ``step``, ``name``, ``value``; series ``train/loss`` and the keys of ``validation_series``, default
    :data:`DSA_VALIDATION_SERIES`; a missing series is left out). A series whose name ends in a baseline's
    suffix (``_zero``, ``_mean_fill``) is drawn dashed."""
    validation = dict(DSA_VALIDATION_SERIES if validation_series is None else validation_series)
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            series.setdefault(row["name"], []).append((int(row["step"]), float(row["value"])))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    curves = [("train/loss", left, "training loss")] + [(name, right, label) for name, label in validation.items()]
    for name, axis, label in curves:
        if name in series:
            steps, values = zip(*series[name])
            dashed = name.endswith(("_zero", "_mean_fill"))
            axis.plot(steps, values, label=label, linestyle="--" if dashed else "-",
                      marker="" if name.startswith("train") else "o", markersize=3)
        axis.set_xlabel("step")
    left.set_yscale("log")
    left.set_title(loss_title)
    right.set_title(validation_title)
    if right.get_legend_handles_labels()[0]:  # a short run may have no validation point yet
        right.legend()
    figure.tight_layout()
    return save_figure(figure, path, overwrite)


def _check_volume(volume: np.ndarray) -> np.ndarray:
    volume = np.asarray(volume, dtype=float)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"expected a (D, H, W) volume, got an array of shape {volume.shape}")
    return volume


def volume_panels(path: str | Path, volume: np.ndarray, spacing_mm: float | tuple[float, float, float] | None = None,
                  mip: bool = True, cmap: str = "gray", overwrite: bool = False) -> Path:
    """The three orthogonal mid-slices of a volume and (``mip``) its three maximum-intensity projections, on one
    grey scale (the volume's min..max).

    Args:
        volume: (D, H, W) array, any units.
        spacing_mm: voxel size (D, H, W) in mm, or one number for all three; sets the panels' aspect ratio
            (default: square voxels).
        mip: add a second row of MIPs along D, H and W.
    Returns:
        ``path`` (PNG).
    """
    volume = _check_volume(volume)
    spacing = np.broadcast_to(np.asarray(1.0 if spacing_mm is None else spacing_mm, dtype=float), (3,))
    depth, height, width = (size // 2 for size in volume.shape)
    views = [  # (title, image, rows' spacing, columns' spacing)
        (f"D = {depth} (H x W)", volume[depth], spacing[1], spacing[2]),
        (f"H = {height} (D x W)", volume[:, height], spacing[0], spacing[2]),
        (f"W = {width} (D x H)", volume[:, :, width], spacing[0], spacing[1]),
    ]
    if mip:
        views += [("MIP along D", volume.max(0), spacing[1], spacing[2]),
                  ("MIP along H", volume.max(1), spacing[0], spacing[2]),
                  ("MIP along W", volume.max(2), spacing[0], spacing[1])]
    vmin, vmax = float(volume.min()), float(volume.max())
    figure, axes = plt.subplots(len(views) // 3, 3, figsize=(9, 3.2 * (len(views) // 3)), squeeze=False)
    for axis, (title, image, row_mm, col_mm) in zip(axes.flat, views):
        axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, aspect=row_mm / col_mm)
        axis.set_title(title, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return save_figure(figure, path, overwrite)


def volume_gif(path: str | Path, volume: np.ndarray, axis: int = 0, fps: float = 10, overwrite: bool = False) -> Path:
    """An animated GIF sweeping the slices of a volume along ``axis``, one frame per slice, on one grey scale
    (the volume's min..max mapped to 0..255), looping.

    Args:
        volume: (D, H, W) array, any units.
        axis: 0, 1 or 2 (D, H or W); a volume with ``n`` slices along it gives ``n`` frames (the GIF writer merges
            consecutive identical slices into one longer frame).
        fps: frames per second (> 0).
    Returns:
        ``path`` (GIF).
    """
    import imageio.v3 as iio

    volume = _check_volume(volume)
    if axis not in (0, 1, 2):
        raise InputError(f"axis must be 0, 1 or 2, got {axis!r}")
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}")
    low, high = float(volume.min()), float(volume.max())
    grey = np.round(255 * (volume - low) / ((high - low) or 1.0)).astype(np.uint8)
    frames = np.moveaxis(grey, axis, 0)
    with atomic_path(path, overwrite) as tmp:
        iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
    return Path(path)
