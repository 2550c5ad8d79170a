"""Frame runs in any format: DICOM from a scanner or from angiogen, turned attenuation-positive by its tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from angiogen.io import XAGeometry, write_dicom_xa
from angiogen.io.frames import attenuation_frames, holds_line_integrals, read_frames

GEOMETRY = XAGeometry(primary_deg=-30.0, secondary_deg=20.0, sid_mm=1100.0, sod_mm=760.0,
                      pixel_spacing_mm=(0.3, 0.3), frame_time_ms=66.7)


def _frames(n: int = 3, size: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(2.0, 5.0, (n, size, size)).astype(np.float32)


@pytest.mark.parametrize("relationship, sign, to_pixels", [
    ("LOG", 1, lambda line: 3000.0 - 400.0 * line),  # log intensity: values fall with attenuation
    ("LIN", 1, lambda line: 4000.0 * np.exp(-line)),  # intensity itself
    ("LOG", -1, lambda line: 100.0 + 400.0 * line),  # values rise with attenuation
    ("", 1, lambda line: 3000.0 - 400.0 * line),  # no tag: the DICOM default, values rise with intensity
])
def test_vendor_dicom_is_made_attenuation_positive_and_normalised_locally(
        tmp_path: Path, relationship: str, sign: int, to_pixels) -> None:
    """A scanner's XA file (not angiogen's line integrals): its PixelIntensityRelationship (sign) says how to turn
    it attenuation-positive, and its own statistics normalise it."""
    import pydicom

    line = _frames(seed=3)
    path = write_dicom_xa(tmp_path / "vendor.dcm", to_pixels(line), GEOMETRY)
    dataset = pydicom.dcmread(path)
    dataset.Manufacturer = "ACME"
    del dataset.PixelIntensityRelationship, dataset.PixelIntensityRelationshipSign
    if relationship:
        dataset.PixelIntensityRelationship, dataset.PixelIntensityRelationshipSign = relationship, sign
    dataset.save_as(path)
    stack = read_frames(path)
    assert not holds_line_integrals(stack)
    attenuation = attenuation_frames(stack)
    assert np.corrcoef(attenuation.ravel(), line.ravel())[0, 1] > 0.999  # rises with the line integral


def test_angiogen_dicom_holds_line_integrals(tmp_path: Path) -> None:
    line = _frames(seed=4)
    stack = read_frames(write_dicom_xa(tmp_path / "ours.dcm", line, GEOMETRY))
    assert holds_line_integrals(stack)
    np.testing.assert_allclose(attenuation_frames(stack), line, atol=1e-4)


def test_a_nifti_run_is_written_back_with_its_affine(tmp_path: Path) -> None:
    from angiogen.io import Volume, write_nifti
    from angiogen.io.frames import native_path, write_frames_like

    line = _frames(seed=5)
    affine = np.diag([0.3, 0.4, 66.7, 1.0])
    affine[:3, 3] = (-12.0, 8.0, 0.0)
    stack = read_frames(write_nifti(tmp_path / "run.nii.gz", Volume(np.moveaxis(line, 0, 2), affine)))
    np.testing.assert_allclose(stack.frames, line)  # frame n is data[:, :, n]
    target = native_path(tmp_path / "out", "dsa", stack)
    assert target.name == "dsa.nii.gz"
    target.parent.mkdir()
    back = read_frames(write_frames_like(target, 2.0 * line, stack))
    np.testing.assert_allclose(back.frames, 2.0 * line, rtol=1e-6)
    np.testing.assert_allclose(back.extra["affine"], affine, atol=1e-6)
