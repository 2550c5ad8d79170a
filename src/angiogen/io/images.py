"""2D images: PNG (8/16-bit) and JPEG via imageio (Pillow), TIFF via tifffile.

Integer images are returned as float32 intensities in [0, 1] (divided by the dtype's maximum);
float TIFFs are kept in their physical units (e.g. line integrals, attenuation). Colour images are
converted to luminance (ITU-R BT.601 weights), since every X-ray pipeline here is monochrome.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.io.checks import has_suffix, require_file, require_sane_shape
from angiogen.io.paths import natural_sort_key

PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = PILLOW_SUFFIXES + TIFF_SUFFIXES

# What Pillow (through imageio) and tifffile raise on a file that is not an image or is cut short.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, zlib.error, tifffile.TiffFileError)


def read_image(path: str | Path) -> np.ndarray:
    """Read one 2D image as float32.

    Args:
        path: a .png (8- or 16-bit), .jpg/.jpeg or .tif/.tiff file.

    Returns:
        (H, W) float32: integer images scaled to [0, 1] by their dtype maximum (255, 65535, ...),
        float TIFFs unchanged (physical units); colour converted to luminance, alpha dropped.

    Raises:
        InputError: missing file, wrong extension, too large, not an image, truncated, or a TIFF
            holding several pages (use :func:`read_image_stack` on a folder instead).
    """
    path = require_file(path, IMAGE_SUFFIXES)
    pixels = _read_tiff(path) if has_suffix(path, TIFF_SUFFIXES) else _read_pillow(path)
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        pixels = luminance(pixels)
    elif pixels.ndim == 3 and pixels.shape[-1] in (1, 2):
        pixels = pixels[..., 0]  # grey (+ alpha)
    if pixels.ndim != 2:
        raise InputError(f"holds an array of shape {pixels.shape}; expected one 2D image", path)
    return pixels.astype(np.float32)


def read_image_stack(source: str | Path | Sequence[str | Path]) -> np.ndarray:
    """Read several 2D images of equal size into one stack.

    Args:
        source: a folder (its .png/.jpg/.jpeg/.tif/.tiff files are read in natural name order,
            so ``frame2`` comes before ``frame10``) or a sequence of image paths, read in that order.

    Returns:
        (N, H, W) float32 with the units of :func:`read_image`.

    Raises:
        InputError: a folder without image files, an empty list, or images of different sizes
            (naming the first file that differs).
    """
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.is_dir():
            raise InputError("no such directory", folder)
        paths = sorted(
            (p for p in folder.iterdir() if p.is_file() and has_suffix(p, IMAGE_SUFFIXES)),
            key=natural_sort_key,
        )
        if not paths:
            raise InputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder", folder)
    else:
        paths = [Path(p) for p in source]
        if not paths:
            raise ValueError("read_image_stack needs at least one image path")

    frames = [read_image(paths[0])]
    for path in paths[1:]:
        image = read_image(path)
        if image.shape != frames[0].shape:
            raise InputError(
                f"size {image.shape} (H, W) differs from {frames[0].shape} of {paths[0].name}", path
            )
        frames.append(image)
    return np.stack(frames)


def read_tiff_stack(path: str | Path) -> np.ndarray:
    """Read a TIFF holding one image or a stack of pages as (N, H, W) float32 (units of :func:`read_image`).

    Raises:
        InputError: missing file, wrong extension, too large, unreadable, or not 2-D / 3-D grey pixels.
    """
    path = require_file(path, TIFF_SUFFIXES)
    pixels = _read_tiff(path)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.ndim != 3:
        raise InputError(f"holds an array of shape {pixels.shape}; expected (H, W) or (N, H, W) grey frames", path)
    return pixels.astype(np.float32)


def write_png(path: str | Path, image: np.ndarray, bits: int = 8, overwrite: bool = False) -> Path:
    """Write a grey image as PNG, atomically.

    Args:
        path: target .png file.
        image: (H, W) float intensities; clipped to [0, 1], then scaled to 0..255 or 0..65535.
        bits: 8 or 16 bits per pixel.
        overwrite: replace an existing file; otherwise an existing file raises InputError.

    Returns:
        ``path`` as a Path.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W), got {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError("image holds NaN or infinite values")
    dtype = np.uint8 if bits == 8 else np.uint16
    levels = np.iinfo(dtype).max
    pixels = np.rint(np.clip(image, 0.0, 1.0) * levels).astype(dtype)
    with atomic_path(path, overwrite) as tmp:
        iio.imwrite(tmp, pixels, plugin="pillow", extension=".png")
    return Path(path)


def write_tiff(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write a float32 image or stack as TIFF in physical units (no scaling), atomically.

    Args:
        path: target .tif or .tiff file.
        image: (H, W) or (N, H, W) array, converted to float32.
        overwrite: replace an existing file; otherwise an existing file raises InputError.

    Returns:
        ``path`` as a Path.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (N, H, W), got {image.shape}")
    with atomic_path(path, overwrite) as tmp:
        tifffile.imwrite(tmp, image, photometric="minisblack")
    return Path(path)


def _read_pillow(path: Path) -> np.ndarray:
    """PNG/JPEG pixels via imageio's Pillow plugin, scaled to [0, 1]; shape checked before decoding."""
    try:
        props = iio.improps(path, plugin="pillow")  # header only
    except _DECODE_ERRORS as error:
        raise InputError("not a readable image: Pillow cannot identify its format", path) from error
    require_sane_shape(props.shape, path)
    try:
        pixels = iio.imread(path, plugin="pillow")
    except _DECODE_ERRORS as error:
        raise InputError(f"not a readable image, corrupt or truncated ({_first_line(error)})", path) from error
    return _scale_integers(np.asarray(pixels))


def _read_tiff(path: Path) -> np.ndarray:
    """TIFF pixels via tifffile: integers scaled to [0, 1], floats kept; shape checked before decoding."""
    try:
        with tifffile.TiffFile(path) as tiff:
            if not tiff.series:
                raise InputError("holds no image", path)
            require_sane_shape(tiff.series[0].shape, path)
            pixels = tiff.series[0].asarray()
    except InputError:
        raise
    except _DECODE_ERRORS as error:
        raise InputError(f"not a readable TIFF, corrupt or truncated ({_first_line(error)})", path) from error
    pixels = np.asarray(pixels)
    if np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32)
    return _scale_integers(pixels)


def _scale_integers(pixels: np.ndarray) -> np.ndarray:
    """Integer or bool pixels divided by the dtype maximum, giving float32 in [0, 1]."""
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    if np.issubdtype(pixels.dtype, np.integer):
        return (pixels.astype(np.float64) / np.iinfo(pixels.dtype).max).astype(np.float32)
    return pixels.astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3|4) RGB(A) pixels to (...) float64 luminance with ITU-R BT.601 weights; alpha dropped."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _first_line(error: BaseException) -> str:
    """First line of an exception's message (imageio's messages run over several lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
