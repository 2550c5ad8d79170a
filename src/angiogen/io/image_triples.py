"""User folders for ``uncrop``: full-field images A, collimated images B and opening masks, paired by file name.

Two layouts are read:

* three folders, given separately (``--full DIR --collimated DIR --masks DIR``), so that both ``A/ B/ masks/`` and
  split layouts (``train_A/ train_B/ masks_trainset/`` ...) work without renaming: :func:`pair_folders`;
* one plain folder of full-field images, from which collimated inputs are simulated: :func:`read_plain_folder`.

Files are PNG, TIFF, JPEG or DICOM (``.dcm``, one frame), see :data:`IMAGE_FILE_SUFFIXES`. Every image is read as
(H, W) float32 grey in [0, 1] by :func:`read_grey`; colour files are accepted only when their channels are equal
(grey stored as RGB), since uncrop works on grey X-ray images. Masks are white in the opening (the measured
region) and binarised by :func:`binarise_mask` at mid-grey, robust to JPEG ringing. Members of a triple must have
the same aspect ratio (within 1 %); other size differences are resampled to the reference image (A, else B) with a
warning. :func:`split_triples` splits by file name or by a patient / acquisition ID pattern, so that one image
under several collimations never lands in both train and test.

Every problem with the user's files raises :class:`angiogen.errors.InputError`, one line naming the file (exit
code 2). Nothing here writes a file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from angiogen.errors import InputError
from angiogen.io.checks import has_suffix, require_directory, require_file, require_finite
from angiogen.io.paths import natural_sort_key

logger = logging.getLogger(__name__)

#: File endings read as images (compared case-insensitively). DICOM files need the ``.dcm`` ending here.
IMAGE_FILE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dcm")
DICOM_SUFFIXES: tuple[str, ...] = (".dcm",)

#: Largest difference between colour channels (on the [0, 1] scale) still read as grey: 2 levels of 8 bits,
#: which absorbs the rounding of JPEG's colour transform on grey pictures saved as RGB.
CHANNEL_TOLERANCE = 2.0 / 255.0
#: Relative difference of aspect ratio (width / height) up to which two members of a triple are resampled.
ASPECT_TOLERANCE = 0.01
#: Words that may prefix or suffix a mask's name: ``img001_mask.png``, ``mask_img001.png`` (see :func:`pair_folders`).
MASK_TAGS: tuple[str, ...] = ("mask", "masks")
MASK_SEPARATORS: tuple[str, ...] = ("_", "-", ".", " ")
#: Connected regions of fewer pixels than this are specks: flipped by :func:`binarise_mask`.
SPECK_PIXELS = 5
#: An opening larger than this fraction of the field gets a warning (openings cover 2-50 %; inverted mask?).
LARGE_OPENING_FRACTION = 0.6

ROLES: tuple[str, ...] = ("full", "collimated", "mask")
_ROLE_WORDS = {"full": "full-field", "collimated": "collimated", "mask": "mask"}


@dataclass(frozen=True, eq=False)
class ImageTriple:
    """One image of a user folder: full field A, collimated B and opening mask, each possibly absent.

    Attributes:
        name: the file name without its image suffix (of A when given, else of B, else of the mask).
        full: (H, W) float32 full-field image A in [0, 1], or ``None``.
        collimated: (H, W) float32 collimated image B in [0, 1] (resampled to A's size), or ``None``.
        mask: (H, W) bool opening, True = opening (white in the file; resampled to A's, else B's size), or ``None``.
        paths: the files read, keyed by ``"full"``, ``"collimated"``, ``"mask"`` (only those present).

    Equality is identity (``eq=False``): the fields hold arrays, which do not compare to one bool.
    """

    name: str
    full: np.ndarray | None
    collimated: np.ndarray | None
    mask: np.ndarray | None
    paths: dict[str, Path] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- reading


def read_grey(path: str | Path) -> np.ndarray:
    """Read one grey image as (H, W) float32 in [0, 1].

    * PNG / JPEG / TIFF: integer pixels are divided by their dtype's maximum (255, 65535, ...). Float TIFFs whose
      values all lie in [0, 1] are kept; otherwise they are scaled by their own min / max to [0, 1] (logged at
      INFO; a constant float image is clipped to [0, 1]).
    * DICOM (``.dcm``, one frame): read via :func:`angiogen.io.frames.read_frames` (after the modality rescale),
      then scaled from the range the stored integers can hold (BitsStored, PixelRepresentation, through
      RescaleSlope / RescaleIntercept) to [0, 1]; that is the same mapping for every file of one bit depth, so A
      and B keep their relative intensities (for files angiogen wrote it is the file's own min / max).
      MONOCHROME1 files are inverted so that bright means bright, as in PNG.
    * Colour (RGB, RGBA, grey + alpha): alpha is ignored; RGB with channels equal to within
      :data:`CHANNEL_TOLERANCE` is read as grey (their mean); differing channels are refused.

    Args:
        path: a file with one of :data:`IMAGE_FILE_SUFFIXES`.

    Returns:
        (H, W) float32 in [0, 1].

    Raises:
        InputError: missing file, other extension, unreadable or truncated file, NaN / Inf, several pages or
            frames, or a colour image with differing channels; one line naming the file.
    """
    path = require_file(path, IMAGE_FILE_SUFFIXES)
    if has_suffix(path, DICOM_SUFFIXES):
        return _read_dicom_grey(path)
    from angiogen.io import images  # imageio / tifffile only when an image is read

    # The pixel readers of images.py keep the channels (read_image would mix them into luminance); they already
    # check the declared size and turn decoding errors (not an image, truncated) into one-line InputErrors.
    if has_suffix(path, images.TIFF_SUFFIXES):
        pixels = images._read_tiff(path)
    else:
        pixels = images._read_pillow(path)
    pixels = _grey_channel(np.asarray(pixels), path)
    require_finite(pixels, path)
    return _to_unit_range(pixels, path)


def _grey_channel(pixels: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) grey pixels from (H, W), (H, W, 1|2) grey (+ alpha) or (H, W, 3|4) RGB(A) with equal channels."""
    if pixels.ndim == 3 and pixels.shape[-1] in (1, 2):
        pixels = pixels[..., 0]
    elif pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        rgb = pixels[..., :3].astype(np.float32)
        spread = float(np.max(rgb.max(axis=-1) - rgb.min(axis=-1))) if rgb.size else 0.0
        if spread > CHANNEL_TOLERANCE:
            raise InputError("colour image with differing channels; uncrop works on grey X-ray images", path)
        pixels = rgb.mean(axis=-1)
    if pixels.ndim != 2:
        raise InputError(f"holds an array of shape {pixels.shape}; expected one 2D grey image", path)
    return pixels.astype(np.float32)


def _to_unit_range(pixels: np.ndarray, path: Path) -> np.ndarray:
    """Float pixels kept when inside [0, 1], else scaled by their own min / max (logged)."""
    low, high = float(pixels.min()), float(pixels.max())
    if low >= 0.0 and high <= 1.0:
        return pixels.astype(np.float32)
    if high > low:
        logger.info("%s: float values in [%.4g, %.4g], outside [0, 1]: scaled by their own min and max",
                    path, low, high)
        return ((pixels.astype(np.float64) - low) / (high - low)).astype(np.float32)
    logger.info("%s: constant float image of value %.4g, clipped to [0, 1]", path, low)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def _read_dicom_grey(path: Path) -> np.ndarray:
    """One DICOM frame scaled from its stored range to [0, 1] (see :func:`read_grey`)."""
    import pydicom

    from angiogen.io.frames import read_frames

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - read_frames below names what is wrong with the file
        header = None
    if header is not None and int(header.get("NumberOfFrames", 1) or 1) > 1:
        raise InputError(
            f"multi-frame DICOM ({int(header.NumberOfFrames)} frames); uncrop reads one image per file: "
            "export the frame you want as a single-frame file", path)
    stack = read_frames(path)  # InputError for unreadable, truncated or non-DICOM files
    if stack.frames.shape[0] != 1:
        raise InputError(f"multi-frame DICOM ({stack.frames.shape[0]} frames); uncrop reads one image per file",
                         path)
    frame = stack.frames[0].astype(np.float64)
    if header is None:
        return _to_unit_range(frame.astype(np.float32), path)
    if int(header.get("SamplesPerPixel", 1) or 1) > 1:
        _check_dicom_channels(path)  # read_frames mixed them into luminance; equal channels give the channel
    bits = int(header.get("BitsStored", header.get("BitsAllocated", 16)) or 16)
    signed = int(header.get("PixelRepresentation", 0) or 0) == 1
    raw_low, raw_high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(header.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(header.get("RescaleIntercept", 0.0) or 0.0)
    low, high = sorted((raw_low * slope + intercept, raw_high * slope + intercept))
    if high <= low:
        return _to_unit_range(frame.astype(np.float32), path)
    grey = np.clip((frame - low) / (high - low), 0.0, 1.0)
    if str(header.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        grey = 1.0 - grey
    return grey.astype(np.float32)


def _check_dicom_channels(path: Path) -> None:
    """Refuse a colour DICOM whose channels differ (on the scale of its stored integers)."""
    import pydicom

    try:
        dataset = pydicom.dcmread(path)
        pixels = np.asarray(dataset.pixel_array)
        bits = int(dataset.get("BitsStored", 8) or 8)
    except Exception as error:  # noqa: BLE001 - read_frames decoded it already; report, don't crash
        raise InputError(f"cannot decode the colour pixel data ({error})", path) from error
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        rgb = pixels[..., :3].astype(np.float64) / (2**bits - 1)
        if float(np.max(rgb.max(axis=-1) - rgb.min(axis=-1))) > CHANNEL_TOLERANCE:
            raise InputError("colour image with differing channels; uncrop works on grey X-ray images", path)


# ---------------------------------------------------------------------------------------------------- masks


def binarise_mask(mask: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Binarise an opening mask: True = opening (white), robust to JPEG ringing.

    Pixels above mid-grey (> 0.5 on the [0, 1] scale, i.e. > 127 of 255, the original's threshold) are the
    opening. A label mask stored as 0 / 1 integers (read as exactly two values, 0 and one grey level of at most
    1/255) is taken as opening where it is 1 (logged at INFO). Then connected specks of fewer than
    :data:`SPECK_PIXELS` pixels (opening specks in the collimated region and holes in the opening, 4-connected)
    are flipped, unless that would leave no opening. An opening over more than :data:`LARGE_OPENING_FRACTION`
    of the field is logged as a warning (is the mask inverted?).

    Args:
        mask: (H, W) grey values in [0, 1] (as :func:`read_grey` returns them), or a bool array.
        path: the file the mask came from, named in errors and warnings.

    Returns:
        (H, W) bool, True in the opening.

    Raises:
        InputError: the mask has no opening (all dark) or is open everywhere (all white), naming the file.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"mask of shape {mask.shape}; expected one 2D image", path)
    if mask.dtype == bool:
        opening = mask.copy()
    else:
        values = mask.astype(np.float32)
        levels = np.unique(values)
        if levels.size == 2 and levels[0] == 0.0 and 0.0 < levels[1] <= 1.0 / 255.0 + 1e-7:
            logger.info("%s: mask holds only the values 0 and 1: read as a label mask (1 = opening)", path)
            opening = values > 0.0
        else:
            opening = values > 0.5
    opening = _remove_specks(opening)
    _require_partial_opening(opening, path)
    fraction = float(opening.mean())
    if fraction > LARGE_OPENING_FRACTION:
        logger.warning("%s: the opening covers %.0f %% of the field; masks must be white in the opening "
                       "(is this mask inverted?)", path, 100.0 * fraction)
    return opening


def _remove_specks(opening: np.ndarray) -> np.ndarray:
    """Flip 4-connected regions (of either value) smaller than SPECK_PIXELS, unless none would stay open."""
    from scipy import ndimage

    cleaned = opening.copy()
    for value in (True, False):
        labels, count = ndimage.label(cleaned == value)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())
        small = np.flatnonzero(sizes < SPECK_PIXELS)
        small = small[small > 0]
        if small.size:
            cleaned[np.isin(labels, small)] = not value
    return cleaned if cleaned.any() and not cleaned.all() else opening


def _require_partial_opening(opening: np.ndarray, path: str | Path | None) -> None:
    if not opening.any():
        raise InputError("mask without an opening (no pixel brighter than mid-grey); "
                         "masks must be white in the opening", path)
    if opening.all():
        raise InputError("mask open everywhere (all white): no collimated region to recover", path)


# ---------------------------------------------------------------------------------------------------- folders


def image_stem(path: str | Path) -> str:
    """The file name without its image suffix (one of :data:`IMAGE_FILE_SUFFIXES`, any case).

    Only that one suffix is removed: ``img.001.PNG`` -> ``img.001``.
    """
    name = Path(path).name
    lowered = name.lower()
    for suffix in sorted(IMAGE_FILE_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _image_files(folder: Path) -> list[Path]:
    """Image files of ``folder`` in natural name order; hidden files, folders and other files are skipped."""
    require_directory(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and has_suffix(p, IMAGE_FILE_SUFFIXES)]
    if not files:
        raise InputError(f"no image files ({', '.join(IMAGE_FILE_SUFFIXES)}) in this folder", folder)
    return sorted(files, key=natural_sort_key)


def _by_key(files: list[Path], key_of) -> dict[str, Path]:
    """Files keyed by ``key_of(file)``; two files with one key are refused, naming the second."""
    keyed: dict[str, Path] = {}
    for path in files:
        key = key_of(path)
        if key in keyed:
            raise InputError(f"same name as {keyed[key].name} in this folder: which one is meant is ambiguous; "
                             "keep one of them", path)
        keyed[key] = path
    return keyed


def _mask_key(path: Path, image_keys: set[str]) -> str:
    """Key of the image a mask belongs to: its own stem, or the stem less a ``mask`` prefix / suffix."""
    key = image_stem(path).casefold()
    if key in image_keys:
        return key
    for tag in MASK_TAGS:
        for sep in MASK_SEPARATORS:
            if key.endswith(sep + tag) and key[: -len(sep + tag)] in image_keys:
                return key[: -len(sep + tag)]
            if key.startswith(tag + sep) and key[len(tag + sep):] in image_keys:
                return key[len(tag + sep):]
    return key


def pair_folders(full: str | Path | None, collimated: str | Path | None,
                 masks: str | Path | None) -> list[ImageTriple]:
    """Read full-field images, collimated images and opening masks from up to three folders, paired by name.

    Files pair by stem: the file name without its image suffix, compared case-insensitively (``img001.png`` in
    the full folder pairs with ``img001.tif`` or ``IMG001.PNG`` in the collimated folder). A mask pairs with the
    image of its own stem, or of its stem less one ``mask`` / ``masks`` tag with a ``_``, ``-``, ``.`` or space
    separator: ``img001.png``, ``img001_mask.png``, ``img001-masks.jpg``, ``mask_img001.png`` all pair with
    ``img001``. Formats may be mixed. Only image files are read; hidden files and other files are ignored.

    Any combination of folders is allowed except masks alone: full only (train with simulated collimation),
    collimated + masks (inference), full + collimated (+ masks), full + masks. Each member of a triple must have
    the aspect ratio (width / height) of the reference image (the full one, else the collimated one) to within
    1 %; when its size differs, it is resampled to the reference size (images bilinear via
    ``skimage.transform.resize``, masks nearest-neighbour after binarising), with a warning naming the file.

    Args:
        full: folder of full-field images A, or ``None``.
        collimated: folder of collimated images B, or ``None``.
        masks: folder of opening masks (white = opening), or ``None``.

    Returns:
        One :class:`ImageTriple` per name, in natural order of the names.

    Raises:
        InputError: no folder, masks alone, one folder given twice, a missing or empty folder, two files with one
            name in a folder, a file whose partner is missing (naming the file and the folder searched), and any
            error of :func:`read_grey`, :func:`binarise_mask` or of the size checks, naming the file.
    """
    folders = {role: Path(folder) for role, folder in zip(ROLES, (full, collimated, masks)) if folder is not None}
    if not folders:
        raise InputError("no input folder given: give the full-field, collimated and/or mask folder")
    if set(folders) == {"mask"}:
        raise InputError("a mask folder alone is not enough: give the collimated and/or full-field folder too",
                         folders["mask"])
    seen: dict[Path, str] = {}
    for role, folder in folders.items():
        resolved = folder.resolve()
        if resolved in seen:
            raise InputError(f"given both as the {_ROLE_WORDS[seen[resolved]]} and as the {_ROLE_WORDS[role]} "
                             "folder; each needs its own folder", folder)
        seen[resolved] = role

    keyed: dict[str, dict[str, Path]] = {}
    for role in ("full", "collimated"):
        if role in folders:
            keyed[role] = _by_key(_image_files(folders[role]), lambda p: image_stem(p).casefold())
    image_keys = set().union(*(set(files) for files in keyed.values()))
    if "mask" in folders:
        keyed["mask"] = _by_key(_image_files(folders["mask"]), lambda p: _mask_key(p, image_keys))

    all_keys = set().union(*(set(files) for files in keyed.values()))
    for key in sorted(all_keys, key=lambda k: natural_sort_key(k)):
        present = {role: files[key] for role, files in keyed.items() if key in files}
        for role in keyed:
            if role not in present:
                example_role, example = next(iter(present.items()))
                stem = image_stem(example)
                if example_role == "mask":
                    looked_for = f"'{stem}', less a mask prefix or suffix such as '_mask' or 'mask_'"
                elif role == "mask":
                    looked_for = f"'{stem}', '{stem}_mask' or 'mask_{stem}'"
                else:
                    looked_for = f"'{stem}'"
                raise InputError(f"no partner in the {_ROLE_WORDS[role]} folder {folders[role]} "
                                 f"(looked for {looked_for}, with suffix {', '.join(IMAGE_FILE_SUFFIXES)})",
                                 example)

    primary = "full" if "full" in keyed else "collimated"
    ordered = sorted(keyed[primary].values(), key=natural_sort_key)
    return [_read_triple({role: files[image_stem(path).casefold()] for role, files in keyed.items()})
            for path in ordered]


def _read_triple(paths: dict[str, Path]) -> ImageTriple:
    """Read and size-match the members of one triple."""
    full = read_grey(paths["full"]) if "full" in paths else None
    collimated = read_grey(paths["collimated"]) if "collimated" in paths else None
    mask = binarise_mask(read_grey(paths["mask"]), paths["mask"]) if "mask" in paths else None
    reference_role = "full" if full is not None else "collimated"
    reference = full if full is not None else collimated
    assert reference is not None
    if full is not None and collimated is not None:
        collimated = _match_size(collimated, reference, paths["collimated"], paths[reference_role], is_mask=False)
    if mask is not None:
        mask = _match_size(mask, reference, paths["mask"], paths[reference_role], is_mask=True)
    name = image_stem(paths[reference_role])
    return ImageTriple(name=name, full=full, collimated=collimated, mask=mask, paths=dict(paths))


def _match_size(image: np.ndarray, reference: np.ndarray, path: Path, reference_path: Path,
                is_mask: bool) -> np.ndarray:
    """``image`` at ``reference``'s size: refused for another aspect ratio, resampled (with a warning) otherwise."""
    if image.shape == reference.shape:
        return image
    (h, w), (ref_h, ref_w) = image.shape, reference.shape
    aspect, ref_aspect = w / h, ref_w / ref_h
    if abs(aspect / ref_aspect - 1.0) > ASPECT_TOLERANCE:
        raise InputError(f"size {h} x {w} (H x W) has another aspect ratio than {ref_h} x {ref_w} of "
                         f"{reference_path.name} (width / height {aspect:.3f} vs {ref_aspect:.3f})", path)
    from skimage.transform import resize

    logger.warning("%s: size %d x %d (H x W) differs from %d x %d of %s; resampled %s", path, h, w, ref_h,
                   ref_w, reference_path.name, "nearest-neighbour" if is_mask else "bilinear")
    if is_mask:
        resized = resize(image, reference.shape, order=0, preserve_range=True, anti_aliasing=False) > 0.5
        _require_partial_opening(resized, path)
        return resized
    resized = resize(image.astype(np.float64), reference.shape, order=1, preserve_range=True, mode="edge")
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


def read_plain_folder(folder: str | Path) -> list[ImageTriple]:
    """Read a plain folder of full-field images (collimated inputs are simulated from them later).

    Args:
        folder: a folder of PNG / TIFF / JPEG / DICOM images (other and hidden files are ignored).

    Returns:
        One :class:`ImageTriple` per file with only ``full`` set, in natural name order.

    Raises:
        InputError: a missing or empty folder, two files with one name (stem, case-insensitive), or any error
            of :func:`read_grey`, naming the file.
    """
    files = _by_key(_image_files(Path(folder)), lambda p: image_stem(p).casefold())
    return [ImageTriple(name=image_stem(path), full=read_grey(path), collimated=None, mask=None,
                        paths={"full": path})
            for path in sorted(files.values(), key=natural_sort_key)]


# ---------------------------------------------------------------------------------------------------- split


def split_triples(triples: Sequence[ImageTriple], test_fraction: float = 0.2, seed: int = 0,
                  group_pattern: str | None = None) -> tuple[list[ImageTriple], list[ImageTriple]]:
    """Split images into train and test by group, so that no group lands on both sides.

    The group of an image is its name, or, with ``group_pattern``, the first capture group of
    ``re.search(group_pattern, name)`` (the whole match when the pattern has no group or the group did not take
    part): ``^(p\\d+)_`` puts ``p01_c1`` and ``p01_c2`` together. The groups, in natural order, are shuffled with
    ``numpy.random.default_rng(seed)``; whole groups go to test until it holds at least
    ``round(test_fraction * len(triples))`` images (at least one group), and at least one group always stays in
    train. The same triples, fraction, seed and pattern give the same split.

    Args:
        triples: the images to split (e.g. from :func:`pair_folders`).
        test_fraction: wanted fraction of images in test, in (0, 1).
        seed: seed of the shuffle of groups.
        group_pattern: regular expression finding the patient / acquisition ID in a name, or ``None``.

    Returns:
        (train, test), each in the order of ``triples``.

    Raises:
        InputError: a fraction outside (0, 1), an invalid pattern, names the pattern does not match (one named),
            or fewer than two groups (too little data to split).
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")
    groups = [_group_of(triple.name, group_pattern) for triple in triples]
    if group_pattern is not None:
        unmatched = [triple.name for triple, group in zip(triples, groups) if group is None]
        if unmatched:
            raise InputError(f"{len(unmatched)} of {len(triples)} image names do not match the group pattern "
                             f"{group_pattern!r}, e.g. {unmatched[0]!r}")
    unique = sorted(set(groups), key=natural_sort_key)  # type: ignore[arg-type]
    if len(unique) < 2:
        raise InputError(f"{len(triples)} image(s) in {len(unique)} group(s): too little data to split into "
                         "train and test; give more images (or another group pattern)")
    order = np.random.default_rng(seed).permutation(len(unique))
    size = {group: groups.count(group) for group in unique}
    target = max(1, round(test_fraction * len(triples)))
    test_groups: set[str] = set()
    count = 0
    for index in order[:-1]:  # the last group shuffled always stays in train
        if count >= target:
            break
        test_groups.add(unique[index])
        count += size[unique[index]]
    train = [t for t, g in zip(triples, groups) if g not in test_groups]
    test = [t for t, g in zip(triples, groups) if g in test_groups]
    return train, test


def _group_of(name: str, pattern: str | None) -> str | None:
    """The group of one name (see :func:`split_triples`); ``None`` when the pattern does not match."""
    if pattern is None:
        return name
    try:
        match = re.search(pattern, name)
    except re.error as error:
        raise InputError(f"invalid group pattern {pattern!r}: {error}") from error
    if match is None:
        return None
    if match.re.groups and match.group(1) is not None:
        return match.group(1)
    return match.group(0)
