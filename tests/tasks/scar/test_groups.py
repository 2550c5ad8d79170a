"""Pixel-prism group building on hand-made slices with known membership."""

from __future__ import annotations

import time

import numpy as np

from angiogen.tasks.scar.groups import build_groups
from angiogen.io.slice_stack import SliceStack


def _tilted_affine(tilt_deg: float, pixel_mm: float, spacing_mm: float, origin: np.ndarray) -> np.ndarray:
    # Slice axes rotated by tilt_deg about x: i along x, j and the normal in the y-z plane.
    t = np.deg2rad(tilt_deg)
    axis_i = np.array([1.0, 0.0, 0.0])
    axis_j = np.array([0.0, np.cos(t), np.sin(t)])
    normal = np.array([0.0, -np.sin(t), np.cos(t)])
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = axis_i * pixel_mm, axis_j * pixel_mm, \
        normal * spacing_mm, origin
    return affine


def _world(affine: np.ndarray, i: np.ndarray, j: np.ndarray, distance_mm: np.ndarray) -> np.ndarray:
    normal = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    return affine[:3, 3] + i[:, None] * affine[:3, 0] + j[:, None] * affine[:3, 1] + distance_mm[:, None] * normal


def test_oblique_slice_membership_matches_hand_count() -> None:
    # One 3 x 3 slice tilted 30 deg, 2 mm pixels, 4 mm thick; 50 nodes placed at known (i, j, distance).
    affine = _tilted_affine(30.0, 2.0, 4.0, np.array([10.0, -5.0, 3.0]))
    values = np.arange(9, dtype=np.float32).reshape(1, 3, 3) / 10
    stack = SliceStack(values, affine[None], 4.0)
    rng = np.random.default_rng(0)
    i = rng.uniform(-1.0, 3.0, 50)
    j = rng.uniform(-1.0, 3.0, 50)
    distance = rng.uniform(-3.0, 3.0, 50)
    # Edge cases: on a half-open footprint edge, on the prism's faces.
    i[:4] = [0.5, 0.4999, 1.5, -0.5]
    j[:4] = [1.0, 1.0, 2.4999, 0.0]
    distance[:4] = [0.0, 1.9999, -1.9999, 2.0001]
    points = _world(affine, i, j, distance)

    groups = build_groups(points, stack)

    pixel_i, pixel_j = np.floor(i + 0.5).astype(int), np.floor(j + 0.5).astype(int)
    inside = (pixel_i >= 0) & (pixel_i < 3) & (pixel_j >= 0) & (pixel_j < 3) & (distance >= -2) & (distance < 2)
    expected = {(int(a), int(b)): set(np.flatnonzero(inside & (pixel_i == a) & (pixel_j == b)))
                for a in range(3) for b in range(3)}
    expected = {key: nodes for key, nodes in expected.items() if nodes}
    found = {}
    for g in range(groups.n_groups):
        key = (int(groups.pixel[g, 1]), int(groups.pixel[g, 2]))
        found[key] = set(groups.member_node[groups.member_group == g].tolist())
        # value and group come from the same pixel
        assert groups.target[g] == values[0, key[0], key[1]]
    assert found == expected
    assert 0 in found[(1, 1)] and 1 in found[(0, 1)]  # i = 0.5 goes up, 0.4999 stays
    assert 2 in found[(2, 2)] and 3 not in set().union(*found.values())  # just inside the lower face; i = -0.5 is outside
    assert np.all(np.diff(groups.member_group) >= 0)


def test_padding_gives_double_membership_between_slices() -> None:
    # Two parallel slices 4 mm apart, 4 mm thick; 1 mm padding puts nodes near the shared face in both prisms.
    first = _tilted_affine(0.0, 2.0, 4.0, np.zeros(3))
    second = first.copy()
    second[:3, 3] += first[:3, 2]
    stack = SliceStack(np.stack([np.zeros((2, 2)), np.ones((2, 2))]), np.stack([first, second]), 4.0)
    points = np.array([[0.0, 0.0, 1.5], [0.0, 0.0, 2.5], [0.0, 0.0, -0.5]])
    plain = build_groups(points, stack)
    padded = build_groups(points, stack, pad_mm=1.0)
    assert len(plain.member_node) == 3
    assert len(padded.member_node) == 5  # nodes 0 and 1 belong to both slices
    assert sorted(padded.member_node.tolist()) == [0, 0, 1, 1, 2]
    assert set(padded.pixel[:, 0].tolist()) == {0, 1}


def test_group_building_is_fast_for_100k_nodes_and_50k_pixels() -> None:
    rng = np.random.default_rng(1)
    affines = np.stack([_tilted_affine(15.0, 1.5, 5.0, np.array([-75.0, -75.0, -40.0 + 5.0 * s])) for s in range(20)])
    stack = SliceStack(rng.uniform(size=(20, 50, 50)), affines, 5.0)
    points = rng.uniform([-75, -75, -45], [0, 0, 60], size=(100_000, 3))
    start = time.perf_counter()
    groups = build_groups(points, stack)
    assert time.perf_counter() - start < 5.0
    assert groups.n_groups > 10_000
    assert groups.size.sum() == len(groups.member_node)
