"""The shared figure helpers: atomic PNG/GIF files of the expected size and content, and the overwrite rule."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.report.figures import image_grid, plot_training_curves, save_figure, volume_gif, volume_panels


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(iio.imread(path))[..., :3].astype(int)


def _panel_greys(path: Path) -> dict[int, int]:
    """Grey level -> pixel count along the middle row of a saved grid, white background left out."""
    row = _pixels(path)[..., 0]
    levels, counts = np.unique(row[row.shape[0] // 2], return_counts=True)
    return {int(level): int(count) for level, count in zip(levels, counts) if level != 255 and count > 20}


def test_save_figure_is_a_png_of_the_figure_size_and_refuses_to_overwrite(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(4, 2))
    figure.add_subplot().plot([0, 1], [0, 1])
    path = save_figure(figure, tmp_path / "sub" / "line.png", tight_bbox=False)
    height, width = _pixels(path).shape[:2]
    assert (width, height) == (440, 220)  # 4 x 2 inches at 110 dpi
    with pytest.raises(InputError, match="exists already"):
        save_figure(plt.figure(), path)
    assert _pixels(path).shape[:2] == (220, 440)  # left as it was
    save_figure(plt.figure(figsize=(2, 2)), path, overwrite=True, tight_bbox=False)
    assert _pixels(path).shape[:2] == (220, 220)


def test_shared_scale_gives_equal_values_equal_colour(tmp_path: Path) -> None:
    rows = {"row": {"a": np.full((32, 32), 1.0), "b": np.full((32, 32), 1.0), "c": np.full((32, 32), 3.0)}}
    rows["row"]["a"][0, 0], rows["row"]["b"][0, 0], rows["row"]["c"][0, 0] = 0.0, 2.0, 4.0
    shared = _panel_greys(image_grid(tmp_path / "shared.png", rows))  # one scale 0..4: 1 -> 64, 3 -> 191
    (dark, n_dark), (light, n_light) = sorted(shared.items())
    assert abs(dark - 64) <= 2 and abs(light - 191) <= 2
    assert 1.8 < n_dark / n_light < 2.2  # a and b share the grey of 1.0
    per_column = _panel_greys(image_grid(tmp_path / "own.png", rows, shared_scale=False))
    assert all(abs(level - 64) > 10 for level in per_column)  # a: 1 is its top (white); b, c: their bottom
    assert min(per_column) <= 2


def test_image_grid_size_follows_rows_and_columns(tmp_path: Path) -> None:
    image = np.random.default_rng(0).random((16, 16))
    wide = _pixels(image_grid(tmp_path / "wide.png", {"r": {name: image for name in "abcd"}}))
    tall = _pixels(image_grid(tmp_path / "tall.png", {label: {"a": image} for label in "abcd"}))
    assert wide.shape[1] / wide.shape[0] > 2.5 and tall.shape[0] / tall.shape[1] > 2.5
    with pytest.raises(InputError, match="row 'y'"):
        image_grid(tmp_path / "bad.png", {"x": {"a": image}, "y": {"b": image}})
    with pytest.raises(InputError, match="exists already"):
        image_grid(tmp_path / "wide.png", {"r": {"a": image}})


def test_training_curves_from_a_metrics_csv(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("step,name,value\n1,train/loss,1.0\n2,train/loss,0.5\n2,val_roi_psnr,20.0\n"
                       "2,val_roi_psnr_zero,18.0\n", encoding="utf-8")
    path = plot_training_curves(tmp_path / "curves.png", metrics)
    height, width = _pixels(path).shape[:2]
    assert 2.0 < width / height < 3.5  # two panels side by side (10 x 3.6 inches, cropped)
    with pytest.raises(InputError, match="exists already"):
        plot_training_curves(path, metrics)
    with pytest.raises(KeyError):
        (tmp_path / "bad.csv").write_text("step,value\n1,2\n", encoding="utf-8")
        plot_training_curves(tmp_path / "bad.png", tmp_path / "bad.csv")


def test_volume_panels_has_two_rows_with_mips_and_one_without(tmp_path: Path) -> None:
    volume = np.zeros((8, 16, 16))
    volume[4, 8, 8] = 1.0
    both = _pixels(volume_panels(tmp_path / "both.png", volume, spacing_mm=(2.0, 1.0, 1.0)))
    slices = _pixels(volume_panels(tmp_path / "slices.png", volume, mip=False))
    assert both.shape[0] > 1.6 * slices.shape[0]
    with pytest.raises(InputError, match=r"\(D, H, W\)"):
        volume_panels(tmp_path / "flat.png", np.zeros((4, 4)))
    with pytest.raises(InputError, match="exists already"):
        volume_panels(tmp_path / "both.png", volume)


def test_volume_gif_has_one_frame_per_slice_on_one_scale(tmp_path: Path) -> None:
    volume = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 6, 7))  # slice d holds the value d
    path = volume_gif(tmp_path / "sweep.gif", volume, fps=5)
    frames = np.asarray(iio.imread(path, index=None))
    assert frames.shape[:3] == (5, 6, 7)
    grey = frames[..., 0] if frames.ndim == 4 else frames
    assert grey[0].max() == 0 and grey[-1].min() == 255 and np.all(np.diff(grey[:, 0, 0].astype(int)) > 0)
    varied = np.random.default_rng(0).random((5, 6, 7))
    sideways = np.asarray(iio.imread(volume_gif(tmp_path / "w.gif", varied, axis=2), index=None))
    assert sideways.shape[:3] == (7, 5, 6)
    with pytest.raises(InputError, match="exists already"):
        volume_gif(path, volume)
    with pytest.raises(InputError, match="axis"):
        volume_gif(tmp_path / "x.gif", volume, axis=3)
