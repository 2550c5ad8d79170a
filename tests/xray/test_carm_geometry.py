"""C-arm geometry: analytic facts of the DICOM conventions, the 3x4 matrix, DICOM round trip, validation."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch

from angiogen.errors import InputError
from angiogen.xray import STANDARD_VIEWS, CArmGeometry, CArmPose, parse_view, view_name

VIEWS = ["AP", "LAO90", "AP/CRA90", "RAO30/CAU20", "LAO45", "RAO30/CRA20"]


def make(view: str = "AP", **kwargs) -> CArmGeometry:
    defaults = dict(sid_mm=1100.0, sod_mm=780.0, rows=60, cols=80, pixel_spacing_mm=(0.6, 0.5))
    defaults.update(kwargs)
    return CArmGeometry.standard(view, **defaults)


@pytest.mark.parametrize("view", VIEWS)
def test_isocentre_projects_to_detector_centre(view: str) -> None:
    shift = (12.0, -7.0, 30.0)
    geometry = make(view, isocenter_shift_mm=shift, detector_rotation_deg=10.0)
    col, row = geometry.project_points(np.array([shift]))[0]
    assert col == pytest.approx((geometry.cols - 1) / 2, abs=1e-9)
    assert row == pytest.approx((geometry.rows - 1) / 2, abs=1e-9)


@pytest.mark.parametrize("view", VIEWS)
def test_magnification_is_sid_over_sod(view: str) -> None:
    geometry = make(view)
    e_c, e_r, _ = geometry.axes()
    # 10 mm along the column axis in the isocentre plane -> 10 * SID/SOD mm on the detector.
    (c0, r0), (c1, r1) = geometry.project_points(np.array([[0.0, 0, 0], 10 * e_c]))
    assert (c1 - c0) * geometry.pixel_spacing_mm[1] == pytest.approx(10 * 1100 / 780, rel=1e-12)
    assert r1 == pytest.approx(r0, abs=1e-9)
    (c0, r0), (c1, r1) = geometry.project_points(np.array([[0.0, 0, 0], 10 * e_r]))
    assert (r1 - r0) * geometry.pixel_spacing_mm[0] == pytest.approx(10 * geometry.magnification, rel=1e-12)


def test_source_opposite_detector_and_distances() -> None:
    geometry = make("RAO30/CAU20", isocenter_shift_mm=(5.0, 6.0, 7.0))
    source, centre = geometry.source_mm(), geometry.detector_center_mm()
    iso = np.array(geometry.isocenter_shift_mm)
    assert np.linalg.norm(centre - source) == pytest.approx(1100.0)
    assert np.linalg.norm(iso - source) == pytest.approx(780.0)
    assert np.dot(source - iso, centre - iso) < 0  # on opposite sides of the isocentre


def test_lao90_looks_along_left_right() -> None:
    geometry = make("LAO90")
    _, directions, _ = geometry.rays()
    central = directions[geometry.rows // 2, geometry.cols // 2]
    # LAO 90: the detector is on the patient's left (+x in LPS), so rays run from right to left along +x.
    assert central[0] > 0.999
    assert geometry.source_mm()[0] < 0 < geometry.detector_center_mm()[0]


def test_ap_and_cranial_directions() -> None:
    ap = make("AP")
    assert np.allclose(ap.axes()[2], [0, -1, 0])  # AP: detector anterior (-y in LPS), source posterior
    assert np.allclose(ap.axes()[0], [1, 0, 0])  # columns run to the patient's left (radiological display)
    assert np.allclose(ap.axes()[1], [0, 0, -1])  # rows run head to feet
    cra = make("AP/CRA90")
    assert np.allclose(cra.axes()[2], [0, 0, 1])  # cranial: detector towards the head


def test_spine_left_of_heart_at_rao_right_at_lao() -> None:
    spine, heart = np.array([[0.0, 60.0, 0.0]]), np.array([[20.0, -30.0, 0.0]])
    for view, spine_is_left in (("RAO30", True), ("LAO45", False)):
        geometry = make(view)
        spine_col = geometry.project_points(spine)[0, 0]
        heart_col = geometry.project_points(heart)[0, 0]
        assert (spine_col < heart_col) == spine_is_left


@pytest.mark.parametrize("view", VIEWS)
def test_matrix_projection_equals_ray_detector_intersection(view: str) -> None:
    geometry = make(view, isocenter_shift_mm=(3.0, -4.0, 8.0), detector_rotation_deg=-15.0)
    rng = np.random.default_rng(0)
    points = rng.uniform(-120, 120, size=(50, 3))
    pixels = geometry.project_points(points)
    # Intersect the ray source -> point with the detector plane and express it in pixel units.
    source, centre = geometry.source_mm(), geometry.detector_center_mm()
    e_c, e_r, u = geometry.axes()
    t = ((centre - source) @ u) / ((points - source) @ u)
    hits = source + t[:, None] * (points - source)
    col = (hits - centre) @ e_c / geometry.pixel_spacing_mm[1] + (geometry.cols - 1) / 2
    row = (hits - centre) @ e_r / geometry.pixel_spacing_mm[0] + (geometry.rows - 1) / 2
    np.testing.assert_allclose(pixels, np.c_[col, row], atol=1e-8)
    # And pixel centres project onto their own indices.
    centres = geometry.pixel_centers_mm()
    np.testing.assert_allclose(geometry.project_points(centres[7, 11][None])[0], [11, 7], atol=1e-8)


def test_display_basis_has_determinant_minus_one() -> None:
    for view in VIEWS:
        assert np.linalg.det(make(view).axes()) == pytest.approx(-1.0)


def test_dicom_round_trip() -> None:
    geometry = make("RAO30/CAU20", sid_mm=1195.5, sod_mm=810.25, pixel_spacing_mm=(0.154, 0.154))
    dataset = pydicom.Dataset()
    for keyword, value in geometry.to_dicom_tags().items():
        setattr(dataset, keyword, value)
    assert dataset.PositionerPrimaryAngle == -30.0
    assert dataset.PositionerSecondaryAngle == -20.0
    back = CArmGeometry.from_dicom(dataset)
    assert back == geometry
    # Table shift and detector rotation travel in the sidecar.
    shifted = geometry.replace(isocenter_shift_mm=(1.0, 2.0, 3.0), detector_rotation_deg=4.0)
    assert CArmGeometry.from_dicom(dataset, sidecar=shifted.sidecar()) == shifted


def test_from_dicom_missing_tag_and_bad_magnification() -> None:
    dataset = pydicom.Dataset()
    for keyword, value in make().to_dicom_tags().items():
        setattr(dataset, keyword, value)
    dataset.EstimatedRadiographicMagnificationFactor = 2.0
    with pytest.raises(InputError, match="Magnification"):
        CArmGeometry.from_dicom(dataset)
    del dataset.DistanceSourceToDetector
    with pytest.raises(InputError, match="DistanceSourceToDetector"):
        CArmGeometry.from_dicom(dataset)


def test_from_enhanced_dicom_functional_groups() -> None:
    geometry = make("LAO45")
    tags = geometry.to_dicom_tags()
    positioner = pydicom.Dataset()
    positioner.PositionerPrimaryAngle = tags["PositionerPrimaryAngle"]
    positioner.PositionerSecondaryAngle = tags["PositionerSecondaryAngle"]
    distances = pydicom.Dataset()
    distances.DistanceSourceToDetector = tags["DistanceSourceToDetector"]
    distances.DistanceSourceToIsocenter = tags["DistanceSourceToPatient"]
    shared = pydicom.Dataset()
    shared.PositionerPositionSequence = [positioner]
    shared.XRayGeometrySequence = [distances]
    dataset = pydicom.Dataset()
    dataset.SharedFunctionalGroupsSequence = [shared]
    dataset.ImagerPixelSpacing = tags["ImagerPixelSpacing"]
    dataset.Rows, dataset.Columns = tags["Rows"], tags["Columns"]
    assert CArmGeometry.from_dicom(dataset) == geometry


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sod_mm=1000.0, sid_mm=1000.0), "smaller than sid_mm"),
        (dict(sod_mm=1200.0, sid_mm=1000.0), "smaller than sid_mm"),
        (dict(sid_mm=-5.0), "positive"),
        (dict(pixel_spacing_mm=0.0), "positive"),
        (dict(pixel_spacing_mm=(0.5, -0.5)), "positive"),
        (dict(rows=0), "rows"),
        (dict(cols=12.5), "cols"),
        (dict(isocenter_shift_mm=(1.0, 2.0)), "isocenter_shift_mm"),
        (dict(primary_deg=float("nan")), "primary_deg"),
    ],
)
def test_bad_geometry_raises_input_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CArmGeometry(**kwargs)


def test_standard_views_and_names() -> None:
    assert len(STANDARD_VIEWS) == 9
    for name, angles in STANDARD_VIEWS.items():
        assert parse_view(name) == angles
        assert view_name(*angles) == name
        assert CArmGeometry.standard(name).name == name
    with pytest.raises(InputError, match="not understood"):
        parse_view("LEFT45")


def test_pose_batch_matches_geometries() -> None:
    geometries = [make(view, isocenter_shift_mm=(1.0, 2.0, 3.0)) for view in VIEWS]
    pose = CArmPose.from_geometries(geometries, dtype=torch.float64)
    matrices = pose.projection_matrices().numpy()
    for index, geometry in enumerate(geometries):
        np.testing.assert_allclose(matrices[index], geometry.projection_matrix())
    assert pose.to_geometries() == geometries
    with pytest.raises(InputError, match="same detector size"):
        CArmPose.from_geometries([make(), make(rows=10)])


def test_io_reader_and_geometry_share_one_tag_parser(tmp_path) -> None:
    """A geometry written through ``to_xa`` comes back from the DICOM reader's record and from_dicom alike."""
    from angiogen.io import read_dicom, write_dicom_xa

    geometry = make("RAO30/CAU20", sid_mm=1150.0, sod_mm=790.0, pixel_spacing_mm=(0.3, 0.3), rows=12, cols=16)
    path = write_dicom_xa(tmp_path / "run.dcm", np.zeros((2, 12, 16)), geometry.to_xa(frame_time_ms=66.7))
    record = read_dicom(path).geometry
    assert record.frame_time_ms == pytest.approx(66.7)
    assert CArmGeometry.from_dicom(pydicom.dcmread(path)) == geometry
    assert (record.primary_deg, record.sod_mm, record.rows) == (-30.0, 790.0, 12)
