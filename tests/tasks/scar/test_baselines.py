"""The non-learned scar baselines on fields they must reproduce exactly, and the isthmus connectivity check."""

from __future__ import annotations

import numpy as np
import pytest

from angiogen.io.slice_stack import SliceStack
from angiogen.tasks.scar.baselines import baseline_fields
from angiogen.tasks.scar.data import ScarData
from angiogen.tasks.scar.evaluate import isthmus_open
from angiogen.tasks.scar.groups import build_groups

PIXEL_MM, SLICE_Z_MM, N_PIXELS = 2.0, (0.0, 8.0, 16.0), 6
OFFSET = (0.1, 0.4, 0.7)  # per-slice constant of the field a_s + 0.05 i + 0.03 j


def _linear_in_plane(slice_index: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return OFFSET[slice_index] + 0.05 * i + 0.03 * j


def _case(values: np.ndarray | None = None) -> tuple[ScarData, np.ndarray]:
    """Three 6 x 6 slices (2 mm pixels, 8 mm apart) and nodes on a half-pixel grid; returns the data and the
    nodes' continuous (i, j, z_mm)."""
    i, j = np.meshgrid(np.arange(N_PIXELS), np.arange(N_PIXELS), indexing="ij")
    if values is None:
        values = np.stack([_linear_in_plane(s, i, j) for s in range(3)])
    affines = np.stack([np.array([[PIXEL_MM, 0, 0, 0], [0, PIXEL_MM, 0, 0], [0, 0, 8.0, z], [0, 0, 0, 1]])
                        for z in SLICE_Z_MM])
    stack = SliceStack(values, affines, 8.0)
    half = np.arange(0, N_PIXELS - 1 + 1e-9, 0.5)  # pixel centres and midpoints, inside the grid
    z_mm = np.array([-3.0, 0.0, 1.0, 3.0, 5.0, 8.0, 10.0, 13.0, 16.0, 19.0])  # no node halfway between slices
    index = np.stack(np.meshgrid(half, half, z_mm, indexing="ij"), axis=-1).reshape(-1, 3)
    points = np.c_[index[:, :2] * PIXEL_MM, index[:, 2]]
    groups = build_groups(points, stack, pad_mm=4.0)
    return ScarData(points, np.ones(len(points)), groups, stack), index


def test_nearest_and_linear_reproduce_a_field_linear_in_every_direction() -> None:
    data, index = _case()
    i, j, z = index.T
    assert data.groups.n_groups == 3 * N_PIXELS**2  # every pixel is myocardium: masked sampling is plain bilinear
    fields = baseline_fields(data)
    nearest_slice = np.argmin(np.abs(z[None] - np.array(SLICE_Z_MM)[:, None]), axis=0)
    expected_nearest = np.choose(nearest_slice, [_linear_in_plane(s, i, j) for s in range(3)])
    np.testing.assert_allclose(fields["nearest_slice"], expected_nearest, atol=1e-6)
    # the offset runs 0.1 -> 0.4 -> 0.7 linearly in z (0.3 per 8 mm); outside the stack the outermost slice's value
    offset = np.interp(z, SLICE_Z_MM, OFFSET)
    np.testing.assert_allclose(fields["linear"], offset + 0.05 * i + 0.03 * j, atol=1e-6)
    assert np.ptp(fields["linear"][z == 1.0] - fields["nearest_slice"][z == 1.0]) < 1e-6  # same in-plane slope
    np.testing.assert_allclose(fields["linear"][z == 1.0] - fields["nearest_slice"][z == 1.0], 0.3 / 8, atol=1e-6)


def test_sdf_interpolates_the_shape_of_the_scar_between_slices() -> None:
    values = np.zeros((3, N_PIXELS, N_PIXELS))
    values[0, 3:], values[1, 2:], values[2, 1:] = 1.0, 1.0, 1.0  # the scar edge moves one pixel per slice
    data, index = _case(values)
    i, _, z = index.T
    sdf = baseline_fields(data, tau_mm=0.5)["sdf"]
    # on slice 0 the zero level lies between pixels 2 and 3, i.e. at i = 2.5; 4 mm beyond slice 1 it is at 1.5 + 0.5
    for z_mm, edge in ((0.0, 2.5), (8.0, 1.5), (16.0, 0.5), (-3.0, 2.5), (19.0, 0.5)):
        at = z == z_mm
        assert np.all(sdf[at & (i >= edge + 1)] > 0.95) and np.all(sdf[at & (i <= edge - 1)] < 0.05), z_mm
    # a quarter of the way from slice 1 to 2 the edge lies at i = 1.25: the nodes at i = 1 and 1.5 are 0.5 mm
    # outside and inside it, so p = logistic(-+0.5 mm / tau) = 1 / (1 + e^+-1)
    at = z == 10.0
    np.testing.assert_allclose(sdf[at & (i == 1.0)], 1 / (1 + np.e), rtol=1e-6)
    np.testing.assert_allclose(sdf[at & (i == 1.5)], 1 / (1 + 1 / np.e), rtol=1e-6)


def test_isthmus_is_open_only_through_a_healthy_path() -> None:
    points = np.c_[np.arange(40.0), np.zeros(40), np.zeros(40)]  # a 40 mm line of nodes, 1 mm apart
    channel = np.ones(40, bool)
    low, high = np.arange(40) < 3, np.arange(40) >= 37
    healthy = np.ones(40, bool)
    assert isthmus_open(points, healthy, channel, low, high)
    blocked = healthy.copy()
    blocked[18:24] = False  # six scar nodes: wider than the k = 8 neighbourhood (4 each side) can jump
    assert not isthmus_open(points, blocked, channel, low, high)
    assert isthmus_open(points, blocked, channel, low, high, k=14)  # a wider graph bridges the gap
    narrow = healthy.copy()
    narrow[20:22] = False
    assert isthmus_open(points, narrow, channel, low, high)
    assert not isthmus_open(points, healthy, channel & ~high, low, high)  # the channel must reach both ends
    end_scarred = healthy.copy()
    end_scarred[:3] = False
    assert not isthmus_open(points, end_scarred, channel, low, high)


@pytest.mark.parametrize("masked", [True, False])
def test_baselines_return_one_value_per_node(masked: bool) -> None:
    data, _ = _case()
    fields = baseline_fields(data, masked=masked)
    assert set(fields) == {"nearest_slice", "linear", "sdf"}
    assert all(field.shape == (len(data.points_mm),) for field in fields.values())
