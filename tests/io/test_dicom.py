"""DICOM XA: multi-frame round trip of frames and geometry, single-frame series, bad files refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless, XRayAngiographicImageStorage, generate_uid

from angiogen.errors import InputError
from angiogen.io import DicomFrames, XAGeometry, read_dicom, read_dicom_series, write_dicom_xa

GEOMETRY = XAGeometry(
    primary_deg=-31.5,  # RAO 31.5
    secondary_deg=22.25,  # CRA 22.25
    sid_mm=1094.7,
    sod_mm=765.25,
    pixel_spacing_mm=(0.154, 0.184),
    frame_time_ms=66.666667,
)


def _frames(n_frames=5, rows=24, cols=32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n_frames, rows, cols)) * 3000.0 - 1000.0).astype(np.float32)


def test_multiframe_round_trip_frames_and_geometry(tmp_path):
    frames = _frames()
    path = write_dicom_xa(tmp_path / "cine.dcm", frames, GEOMETRY)
    result = read_dicom(path)

    assert isinstance(result, DicomFrames)
    assert result.frames.shape == (5, 24, 32) and result.frames.dtype == np.float32
    value_range = float(frames.max() - frames.min())
    assert np.max(np.abs(result.frames - frames)) <= 1e-4 * value_range
    expected = dataclasses.replace(GEOMETRY, rows=24, cols=32)
    for name in ("primary_deg", "secondary_deg", "sid_mm", "sod_mm", "frame_time_ms"):
        assert getattr(result.geometry, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
    assert result.geometry.pixel_spacing_mm == pytest.approx(expected.pixel_spacing_mm, rel=1e-9)
    assert (result.geometry.rows, result.geometry.cols) == (24, 32)
    assert result.modality == "XA" and result.bits_stored == 16 and result.path == path


def test_written_file_is_valid_part10_xa(tmp_path):
    path = write_dicom_xa(tmp_path / "cine.dcm", _frames(n_frames=3), GEOMETRY)
    assert path.read_bytes()[128:132] == b"DICM"
    dataset = pydicom.dcmread(path)
    meta = dataset.file_meta
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert meta.MediaStorageSOPClassUID == dataset.SOPClassUID == XRayAngiographicImageStorage
    assert meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
    assert int(dataset.NumberOfFrames) == 3
    assert dataset.pixel_array.dtype == np.uint16
    # a second file gets fresh UIDs
    other = pydicom.dcmread(write_dicom_xa(tmp_path / "other.dcm", _frames(n_frames=3)))
    assert other.SOPInstanceUID != dataset.SOPInstanceUID
    assert other.SeriesInstanceUID != dataset.SeriesInstanceUID


def test_absent_geometry_tags_read_as_none(tmp_path):
    result = read_dicom(write_dicom_xa(tmp_path / "bare.dcm", _frames(n_frames=1)))
    assert result.frames.shape == (1, 24, 32)
    assert result.geometry == XAGeometry(rows=24, cols=32)


def test_geometry_falls_back_to_pixel_spacing_and_frame_time_vector(tmp_path):
    path = write_dicom_xa(tmp_path / "cine.dcm", _frames(n_frames=4))
    dataset = pydicom.dcmread(path)
    dataset.PixelSpacing = [0.3, 0.35]
    dataset.FrameTimeVector = [0.0, 30.0, 40.0, 35.0]
    dataset.save_as(path, enforce_file_format=True)
    geometry = read_dicom(path).geometry
    assert geometry.pixel_spacing_mm == pytest.approx((0.3, 0.35))
    assert geometry.frame_time_ms == pytest.approx(35.0)  # mean of the increments after the first 0


def test_series_folder_sorted_by_instance_number(tmp_path):
    series_uid = generate_uid()
    frames = _frames(n_frames=4)
    # file names in the opposite order of the instance numbers: sorting must use InstanceNumber
    for index in range(4):
        write_dicom_xa(
            tmp_path / f"img{3 - index}.dcm",
            frames[index],
            GEOMETRY,
            instance_number=index + 1,
            series_instance_uid=series_uid,
        )
    (tmp_path / "README.txt").write_text("not a DICOM file; must be skipped")
    result = read_dicom_series(tmp_path)
    assert result.frames.shape == (4, 24, 32)
    for index in range(4):
        scale = float(frames[index].max() - frames[index].min())
        assert np.max(np.abs(result.frames[index] - frames[index])) <= 1e-4 * scale
    assert result.geometry.primary_deg == pytest.approx(GEOMETRY.primary_deg)
    assert result.path == tmp_path


def test_series_with_mixed_frame_sizes_refused(tmp_path):
    series_uid = generate_uid()
    write_dicom_xa(tmp_path / "a.dcm", _frames(1, 24, 32), instance_number=1, series_instance_uid=series_uid)
    write_dicom_xa(tmp_path / "b.dcm", _frames(1, 20, 32), instance_number=2, series_instance_uid=series_uid)
    with pytest.raises(InputError, match="differs") as caught:
        read_dicom_series(tmp_path)
    assert "b.dcm" in str(caught.value)


def test_empty_series_folder(tmp_path):
    folder = tmp_path / "series01"
    folder.mkdir()
    with pytest.raises(InputError, match="no DICOM files") as caught:
        read_dicom_series(folder)
    assert "series01" in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        read_dicom(tmp_path / "absent.dcm")
    assert "absent.dcm" in str(caught.value)


def test_not_a_dicom_file(tmp_path):
    path = tmp_path / "photo.dcm"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match="not a DICOM") as caught:
        read_dicom(path)
    assert "photo.dcm" in str(caught.value)


@pytest.mark.parametrize("keep_fraction", [0.5, 0.05])
def test_truncated_file(tmp_path, keep_fraction):
    path = write_dicom_xa(tmp_path / "cine.dcm", _frames(), GEOMETRY)
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep_fraction)])
    with pytest.raises(InputError, match="truncated") as caught:
        read_dicom(path)
    assert "cine.dcm" in str(caught.value)


def test_undecodable_transfer_syntax_is_named(tmp_path):
    path = write_dicom_xa(tmp_path / "cine.dcm", _frames(n_frames=2))
    dataset = pydicom.dcmread(path)
    dataset.file_meta.TransferSyntaxUID = JPEGLSLossless
    dataset.PixelData = encapsulate([b"\xff\xd8 not a codestream", b"\xff\xd8 still not"])
    dataset["PixelData"].VR = "OB"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(InputError, match="JPEG-LS Lossless") as caught:
        read_dicom(path)
    assert "cine.dcm" in str(caught.value) and str(JPEGLSLossless) in str(caught.value)


def test_writer_refuses_existing_file_and_leaves_it_unchanged(tmp_path):
    path = write_dicom_xa(tmp_path / "cine.dcm", _frames(seed=1))
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists") as caught:
        write_dicom_xa(path, _frames(seed=2))
    assert "cine.dcm" in str(caught.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cine.dcm"]
