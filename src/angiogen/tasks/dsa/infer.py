"""Prediction outputs on user frames: which files `dsa predict` writes and how.

The run is read with :func:`angiogen.io.frames.read_frames` (any supported format). Outputs in ``OUT``:
``dsa.<same format>`` (DICOM keeps the C-arm geometry tags, NIfTI the affine), ``dsa.tif`` (float32) and PNG
previews of the first frames. With mask frames, the conventional ``live - mean(mask)`` is written as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.atomic import check_writable
from angiogen.io.frames import FrameStack, native_path, write_frames_like

MAX_PREVIEWS = 4


def output_paths(out_dir: Path, stack: FrameStack, with_mask: bool) -> dict[str, Path]:
    """Every file :func:`write_results` writes, by role: "native", "float", "conventional" (with a mask) and
    "preview_<k>" for the first :data:`MAX_PREVIEWS` frames."""
    paths = {"native": native_path(out_dir, "dsa", stack), "float": out_dir / "dsa.tif"}
    if with_mask:
        paths["conventional"] = out_dir / "conventional_dsa.tif"
    for frame in range(min(MAX_PREVIEWS, len(stack.frames))):
        paths[f"preview_{frame}"] = out_dir / f"preview_{frame:03d}.png"
    return paths


def write_results(out_dir: str | Path, stack: FrameStack, predicted: np.ndarray, conventional: np.ndarray | None,
                  overwrite: bool = False) -> list[Path]:
    """Write the predicted vessel images in the input's format, as float TIFF, and PNG previews (live | DSA).

    Args:
        out_dir: output folder, created if needed.
        stack: the live run the predictions are of.
        predicted: (F, H, W) vessel images, attenuation-positive.
        conventional: (F, H, W) ``live - mean(mask)``, or None without mask frames.
        overwrite: replace existing outputs; otherwise any existing one raises InputError before writing.

    Returns:
        The written files, once each, in the order of :func:`output_paths`.
    """
    from angiogen.io import write_png, write_tiff

    out_dir = Path(out_dir)
    paths = output_paths(out_dir, stack, conventional is not None)
    for path in paths.values():
        check_writable(path, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if paths["native"] != paths["float"]:
        write_frames_like(paths["native"], predicted, stack, overwrite)
    write_tiff(paths["float"], predicted, overwrite=overwrite)
    if conventional is not None:
        write_tiff(paths["conventional"], conventional, overwrite=overwrite)
    scale = float(np.percentile(predicted, 99.5)) or 1.0
    for frame in range(min(MAX_PREVIEWS, len(predicted))):
        live = stack.frames[frame]
        span = float(np.ptp(live)) or 1.0
        left = 1.0 - (live - live.min()) / span  # attenuation dark, like a fluoroscopy display
        right = 1.0 - np.clip(predicted[frame] / scale, 0.0, 1.0)
        write_png(paths[f"preview_{frame}"], np.concatenate([left, right], axis=1), overwrite=overwrite)
    return list(dict.fromkeys(paths.values()))


def check_mask(stack: FrameStack, mask: FrameStack) -> None:
    """Mask frames must have the live frames' size (H, W); raises InputError naming the mask file otherwise."""
    if mask.frames.shape[1:] != stack.frames.shape[1:]:
        raise InputError(f"mask frames are {mask.frames.shape[1:]} (H, W) but the live frames "
                         f"{stack.frames.shape[1:]}", mask.path)
