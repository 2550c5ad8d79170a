"""DICOM X-ray angiography: single- and multi-frame XA/RF cine and secondary capture (pydicom 3).

Reading gives the frames as floats after the modality rescale (RescaleSlope/Intercept) and the C-arm
geometry from the XA positioner tags, in DICOM units and sign conventions (degrees, millimetres):

- PositionerPrimaryAngle (0018,1510): LAO +, RAO -.
- PositionerSecondaryAngle (0018,1511): CRA +, CAU -.
- DistanceSourceToDetector (0018,1110) = SID; DistanceSourceToIsocenter (0018,9402, enhanced XA), else
  DistanceSourceToPatient (0018,1111) = SOD.
- ImagerPixelSpacing (0018,1164), else PixelSpacing (0028,0030): (row, column) spacing in mm.
- FrameTime (0018,1063) in ms, else the mean step of FrameTimeVector (0018,1065).

Each tag is looked up at the top level and, in enhanced XA, in the shared and the first per-frame functional
group (:func:`find_dicom_value`). This is the one parser of C-arm geometry tags:
:meth:`angiogen.xray.CArmGeometry.from_dicom` builds on it.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    XRayAngiographicImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from angiogen.errors import InputError
from angiogen.io.atomic import atomic_path
from angiogen.io.checks import require_directory, require_file, require_sane_shape
from angiogen.io.images import luminance

# What pydicom raises while parsing a damaged or non-DICOM file.
_PARSE_ERRORS = (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, struct.error)
# What pydicom raises when pixel data cannot be decoded (missing plugin, bad length, bad codec stream).
_DECODE_ERRORS = (NotImplementedError, RuntimeError, ValueError, TypeError, AttributeError, KeyError, OSError)

_UINT16_MAX = 65535


@dataclass
class XAGeometry:
    """C-arm geometry of an X-ray acquisition as stored in DICOM; ``None`` where the tag is absent.

    Attributes:
        primary_deg: PositionerPrimaryAngle in degrees, LAO positive, RAO negative.
        secondary_deg: PositionerSecondaryAngle in degrees, CRA positive, CAU negative.
        sid_mm: source-to-detector distance in millimetres.
        sod_mm: source-to-patient (isocentre) distance in millimetres.
        pixel_spacing_mm: (row, column) detector pixel spacing in millimetres.
        frame_time_ms: time between frames in milliseconds.
        rows: frame height in pixels.
        cols: frame width in pixels.
    """

    primary_deg: float | None = None
    secondary_deg: float | None = None
    sid_mm: float | None = None
    sod_mm: float | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    frame_time_ms: float | None = None
    rows: int | None = None
    cols: int | None = None


@dataclass
class DicomFrames:
    """Frames of one DICOM file or series.

    Attributes:
        frames: (N, H, W) float32 pixel values after RescaleSlope/Intercept, in the order of
            acquisition; colour is converted to luminance, MONOCHROME1 is not inverted.
        geometry: C-arm geometry from the first file.
        bits_stored: BitsStored of the raw pixel data (e.g. 10, 12, 16).
        modality: Modality tag, e.g. "XA", "RF", "OT"; "" when absent.
        path: the file or directory read; ``None`` for frames made in memory.
        intensity_relationship: PixelIntensityRelationship ("LIN", "LOG", "DISP"; "" when absent): how pixel
            values relate to the X-ray intensity.
        intensity_sign: PixelIntensityRelationshipSign: +1 when values rise with intensity (the default), -1 when
            they rise with attenuation.
        manufacturer: Manufacturer tag ("angiogen" for files this toolkit wrote: line integrals).
    """

    frames: np.ndarray
    geometry: XAGeometry = field(default_factory=XAGeometry)
    bits_stored: int = 16
    modality: str = ""
    path: Path | None = None
    intensity_relationship: str = ""
    intensity_sign: int = 1
    manufacturer: str = ""


def read_dicom(path: str | Path) -> DicomFrames:
    """Read one DICOM file with pixel data: single- or multi-frame XA/RF cine or secondary capture.

    Args:
        path: the DICOM file (any extension).

    Returns:
        DicomFrames with frames (N, H, W) float32 (N = 1 for a single-frame file) and geometry.

    Raises:
        InputError: missing file, not DICOM, truncated, no pixel data, or pixel data in a transfer
            syntax that cannot be decoded here (named in the message).
    """
    path = require_file(path)
    dataset = _read_dataset(path)
    return DicomFrames(
        frames=_frames_of(dataset, path),
        geometry=geometry_from_dataset(dataset),
        bits_stored=int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16))),
        modality=str(dataset.get("Modality", "")),
        path=path,
        **_intensity_tags(dataset),
    )


def read_dicom_series(directory: str | Path) -> DicomFrames:
    """Read a folder of DICOM files of one series, ordered by InstanceNumber, as one frame stack.

    Files that are not DICOM or hold no pixel data (e.g. DICOMDIR, notes) are skipped. Geometry,
    bits stored and modality come from the first file in order.

    Args:
        directory: folder of single-frame (or multi-frame) files of one series.

    Returns:
        DicomFrames with frames (N, H, W) float32, N the total number of frames.

    Raises:
        InputError: missing folder, no DICOM files, more than one series, or frames of different sizes.
    """
    directory = require_directory(directory)
    datasets: list[tuple[Path, Dataset]] = []
    for file_path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        dataset = _read_image_header(file_path)
        if dataset is not None:
            datasets.append((file_path, dataset))
    if not datasets:
        raise InputError("no DICOM files with pixel data in this folder", directory)

    series_uids = {str(dataset.get("SeriesInstanceUID", "")) for _, dataset in datasets}
    if len(series_uids) > 1:
        raise InputError(f"holds {len(series_uids)} series; pass a folder with one series", directory)
    datasets.sort(key=lambda item: (int(item[1].get("InstanceNumber", 0) or 0), item[0].name))

    stacks = []
    for file_path, _ in datasets:
        frames = _frames_of(_read_dataset(file_path), file_path)
        if stacks and frames.shape[1:] != stacks[0].shape[1:]:
            raise InputError(
                f"frame size {frames.shape[1:]} differs from {stacks[0].shape[1:]} of "
                f"{datasets[0][0].name} in the same series",
                file_path,
            )
        stacks.append(frames)
    first = datasets[0][1]
    return DicomFrames(
        frames=np.concatenate(stacks, axis=0),
        geometry=geometry_from_dataset(first),
        bits_stored=int(first.get("BitsStored", first.get("BitsAllocated", 16))),
        modality=str(first.get("Modality", "")),
        path=directory,
        **_intensity_tags(first),
    )


def _intensity_tags(dataset: Dataset) -> dict[str, Any]:
    """How the pixel values relate to the X-ray intensity, and who wrote the file (DicomFrames fields)."""
    sign = dataset.get("PixelIntensityRelationshipSign", 1)
    return {"intensity_relationship": str(dataset.get("PixelIntensityRelationship", "")).strip().upper(),
            "intensity_sign": -1 if sign is not None and int(sign) < 0 else 1,
            "manufacturer": str(dataset.get("Manufacturer", "")).strip()}


def find_dicom_value(dataset: Dataset, keyword: str) -> Any:
    """Value of ``keyword`` at the top level of a Dataset or inside its functional groups (enhanced XA: the shared
    group, then the first per-frame group); ``None`` when absent or empty."""
    value = getattr(dataset, keyword, None)
    if value is not None and value != "":
        return value
    for group_name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = getattr(dataset, group_name, None)
        if not groups:
            continue
        for element in groups[0]:
            if element.VR != "SQ":
                continue
            for item in element.value:
                value = getattr(item, keyword, None)
                if value is not None and value != "":
                    return value
    return None


def geometry_from_dataset(dataset: Dataset) -> XAGeometry:
    """Collect the XA geometry tags of ``dataset``, classic or enhanced (see the module docstring for tags, units
    and where they are looked up); fields whose tags are absent are ``None``."""
    spacing = find_dicom_value(dataset, "ImagerPixelSpacing") or find_dicom_value(dataset, "PixelSpacing")
    sod_mm = _optional_float(dataset, "DistanceSourceToIsocenter")
    return XAGeometry(
        primary_deg=_optional_float(dataset, "PositionerPrimaryAngle"),
        secondary_deg=_optional_float(dataset, "PositionerSecondaryAngle"),
        sid_mm=_optional_float(dataset, "DistanceSourceToDetector"),
        sod_mm=sod_mm if sod_mm is not None else _optional_float(dataset, "DistanceSourceToPatient"),
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])) if spacing else None,
        frame_time_ms=_frame_time_ms(dataset),
        rows=int(dataset.Rows) if "Rows" in dataset else None,
        cols=int(dataset.Columns) if "Columns" in dataset else None,
    )


def write_dicom_xa(
    path: str | Path,
    frames: np.ndarray,
    geometry: XAGeometry | None = None,
    overwrite: bool = False,
    *,
    instance_number: int = 1,
    series_instance_uid: str | None = None,
    study_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    content_datetime: datetime.datetime | None = None,
) -> Path:
    """Write frames as one XA Image Storage file (explicit VR little endian), atomically.

    Float frames are stored as uint16 with RescaleSlope/Intercept chosen from their range, so that
    reading back gives them to within (max - min) / 131070, i.e. about 1e-5 of the range.

    Args:
        path: target file (conventionally .dcm).
        frames: (N, H, W) or (H, W) array of pixel values, any real dtype, finite.
        geometry: C-arm geometry to store; fields left ``None`` are not written. Rows and cols are
            taken from ``frames``.
        overwrite: replace an existing file; otherwise an existing file raises InputError.
        instance_number: InstanceNumber (order within a series).
        series_instance_uid: SeriesInstanceUID to share between files; generated when ``None``.
        study_instance_uid: StudyInstanceUID to share between series; generated when ``None``.
        sop_instance_uid: SOPInstanceUID; generated when ``None`` (give one, with ``content_datetime``, for
            byte-reproducible files).
        content_datetime: study/content date and time; now when ``None``.

    Returns:
        ``path`` as a Path.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    if frames.ndim != 3 or 0 in frames.shape:
        raise ValueError(f"frames must be (N, H, W) or (H, W), got {frames.shape}")
    if not np.all(np.isfinite(frames)):
        raise ValueError("frames hold NaN or infinite values")
    geometry = geometry or XAGeometry()

    stored, slope, intercept = _to_uint16(frames)
    dataset = _xa_dataset(geometry, instance_number, series_instance_uid, study_instance_uid, sop_instance_uid,
                          content_datetime)
    dataset.RescaleSlope = slope
    dataset.RescaleIntercept = intercept
    dataset.RescaleType = "US"
    dataset.set_pixel_data(stored, photometric_interpretation="MONOCHROME2", bits_stored=16,
                           generate_instance_uid=sop_instance_uid is None)
    if stored.shape[0] > 1:
        dataset.NumberOfFrames = stored.shape[0]
        dataset.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    dataset.file_meta = _file_meta(dataset.SOPClassUID, dataset.SOPInstanceUID)
    with atomic_path(path, overwrite) as tmp:
        dataset.save_as(tmp, enforce_file_format=True)
    return Path(path)


def _read_dataset(path: Path) -> Dataset:
    """Parse a DICOM file, accepting files without the 128-byte preamble when they hold an image."""
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass  # no "DICM" preamble: maybe a raw dataset from an old archive, tried below
    except _PARSE_ERRORS as error:
        raise InputError(f"not a readable DICOM file, truncated or corrupt ({error})", path) from error
    try:
        dataset = pydicom.dcmread(path, force=True)
        if "PixelData" in dataset and "Rows" in dataset:
            return dataset
    except _PARSE_ERRORS:
        pass
    raise InputError("not a DICOM file", path)


def _read_image_header(path: Path) -> Dataset | None:
    """The elements before the pixel data of an image file; ``None`` for non-DICOM or non-image files."""
    for force in (False, True):  # force: files without the "DICM" preamble
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True, force=force)
        except _PARSE_ERRORS:
            continue
        return dataset if "Rows" in dataset and "Columns" in dataset else None
    return None


def _frames_of(dataset: Dataset, path: Path) -> np.ndarray:
    """Decode the pixel data of ``dataset`` into (N, H, W) float32 after the modality rescale."""
    if "PixelData" not in dataset:
        raise InputError("holds no pixel data (or the file is truncated before it)", path)
    rows, cols = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    require_sane_shape((n_frames, rows, cols, samples), path)

    transfer_syntax = _transfer_syntax(dataset)
    try:
        pixels = dataset.pixel_array
    except _DECODE_ERRORS as error:
        if transfer_syntax is not None and transfer_syntax.is_compressed:
            raise InputError(
                f"cannot decode pixel data in transfer syntax {transfer_syntax.name} "
                f"({transfer_syntax}); install a decoder plugin such as pylibjpeg or convert the "
                f"file to explicit VR little endian ({error})",
                path,
            ) from error
        raise InputError(f"pixel data is truncated or corrupt ({error})", path) from error

    pixels = np.asarray(pixels)
    if samples > 1:
        pixels = luminance(pixels)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    return (pixels.astype(np.float64) * slope + intercept).astype(np.float32)


def _transfer_syntax(dataset: Dataset) -> UID | None:
    """The file's Transfer Syntax UID, or ``None`` when the file meta lacks it."""
    meta = getattr(dataset, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        return None
    return UID(meta.TransferSyntaxUID)


def _optional_float(dataset: Dataset, keyword: str) -> float | None:
    """Value of a numeric tag as float (first value if multi-valued), ``None`` when absent or empty."""
    value = find_dicom_value(dataset, keyword)
    if value is None or value == "":
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 0:
            return None
        value = value[0]
    return float(value)


def _frame_time_ms(dataset: Dataset) -> float | None:
    """FrameTime in ms, else the mean increment of FrameTimeVector (whose first entry is 0)."""
    frame_time = _optional_float(dataset, "FrameTime")
    if frame_time is not None:
        return frame_time
    vector = dataset.get("FrameTimeVector")
    if vector is None or isinstance(vector, str):
        return None
    increments = [float(value) for value in vector][1:]
    return float(np.mean(increments)) if increments else None


def _ds(value: float) -> float:
    """``value`` rounded to what a DICOM decimal string (16 characters) can hold."""
    return float(format_number_as_ds(float(value)))


def _to_uint16(frames: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map frames to uint16 with value = stored * slope + intercept; return (stored, slope, intercept)."""
    low, high = float(frames.min()), float(frames.max())
    intercept = _ds(low)
    slope = _ds((high - intercept) / _UINT16_MAX) if high > intercept else 1.0
    if slope <= 0.0:
        slope = 1.0
    stored = np.rint((frames.astype(np.float64) - intercept) / slope)
    return np.clip(stored, 0, _UINT16_MAX).astype(np.uint16), slope, intercept


def _xa_dataset(
    geometry: XAGeometry,
    instance_number: int,
    series_instance_uid: str | None,
    study_instance_uid: str | None,
    sop_instance_uid: str | None = None,
    content_datetime: datetime.datetime | None = None,
) -> Dataset:
    """Patient, study, series and XA positioner modules of a new XA image (pixel data added later)."""
    now = content_datetime or datetime.datetime.now()
    dataset = Dataset()
    dataset.SOPClassUID = XRayAngiographicImageStorage
    dataset.SOPInstanceUID = sop_instance_uid or generate_uid()
    dataset.StudyInstanceUID = study_instance_uid or generate_uid()
    dataset.SeriesInstanceUID = series_instance_uid or generate_uid()
    dataset.Modality = "XA"
    dataset.PatientName = "ANONYMOUS"
    dataset.PatientID = "ANGIOGEN"
    dataset.StudyDate = dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.StudyTime = dataset.ContentTime = now.strftime("%H%M%S")
    dataset.SeriesNumber = 1
    dataset.InstanceNumber = int(instance_number)
    dataset.ImageType = ["DERIVED", "PRIMARY", "SINGLE PLANE"]
    dataset.Manufacturer = "angiogen"
    dataset.PixelIntensityRelationship = "LOG"  # line integrals: values rise with -log(intensity)
    dataset.PixelIntensityRelationshipSign = -1
    dataset.RadiationSetting = "GR"
    if geometry.primary_deg is not None:
        dataset.PositionerPrimaryAngle = _ds(geometry.primary_deg)
    if geometry.secondary_deg is not None:
        dataset.PositionerSecondaryAngle = _ds(geometry.secondary_deg)
    if geometry.sid_mm is not None:
        dataset.DistanceSourceToDetector = _ds(geometry.sid_mm)
    if geometry.sod_mm is not None:
        dataset.DistanceSourceToPatient = _ds(geometry.sod_mm)
    if geometry.pixel_spacing_mm is not None:
        dataset.ImagerPixelSpacing = [_ds(value) for value in geometry.pixel_spacing_mm]
    if geometry.frame_time_ms is not None:
        dataset.FrameTime = _ds(geometry.frame_time_ms)
    return dataset


def _file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    """Part 10 file meta information for explicit VR little endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta
