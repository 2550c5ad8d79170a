"""Vessel trees, L-system and voxelisation."""

import json

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.synth.lsystem import LSystemParams, bifurcation, grow_lsystem
from angiogen.synth.tree import VesselTree
from angiogen.synth.voxelize import voxelize, write_surface


@pytest.mark.parametrize("radius_mm", [1.5, 2.5, 4.0])
def test_cylinder_volume_matches_pi_r2_l(radius_mm):
    rng = np.random.default_rng(int(radius_mm * 10))
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    centre, length = np.array([24.2, 23.9, 24.4]), 24.0
    tree = VesselTree([centre - direction * length / 2, centre + direction * length / 2], [radius_mm] * 2, [[0, 1]])
    occupancy = voxelize(tree, (49, 49, 49), spacing_mm=1.0)
    assert occupancy.sum() == pytest.approx(np.pi * radius_mm**2 * length, rel=0.02)
    assert occupancy.max() <= 1.0 and occupancy.min() >= 0.0


def test_voxelize_values_follow_edges():
    tree = VesselTree([[5, 10, 10], [15, 10, 10], [25, 10, 10]], [2, 2, 2], [[0, 1], [1, 2]])
    occupancy, values = voxelize(tree, (31, 21, 21), spacing_mm=1.0, edge_values=np.array([3.0, 7.0]))
    assert values[8, 10, 10] == 3.0 and values[22, 10, 10] == 7.0
    assert values[0, 0, 0] == 0.0 and occupancy[15, 10, 10] == pytest.approx(1.0)


def test_lsystem_is_deterministic_under_a_seed():
    params = LSystemParams(n_iter=6)
    a, b = grow_lsystem(params, seed=3, index=2), grow_lsystem(params, seed=3, index=2)
    c = grow_lsystem(params, seed=3, index=3)
    assert np.array_equal(a.positions_mm, b.positions_mm) and np.array_equal(a.radii_mm, b.radii_mm)
    assert not np.array_equal(a.positions_mm, c.positions_mm)


def test_more_iterations_give_more_segments():
    counts = [grow_lsystem(LSystemParams(n_iter=n), seed=0).n_edges for n in (4, 5, 6, 7)]
    assert counts == [5 * (2 ** (n - 2) - 1) for n in (4, 5, 6, 7)]


def test_radii_shrink_by_the_child_ratio():
    params = LSystemParams(n_iter=6, d0_mm=4.0, asym=2.0, k=3.0, sigma_d=1e9)  # no spread: d1 = d2 = d_opt
    tree = grow_lsystem(params, seed=1)
    child_radius = tree.radii_mm[tree.edges[:, 1]]
    for generation in range(4):
        radii = child_radius[tree.edge_generation == generation]
        assert np.allclose(radii, 2.0 * 2 ** (-generation / 3))


def test_bifurcation_obeys_murray_and_nominal_angles():
    rng = np.random.default_rng(0)
    for _ in range(50):
        d1, d2, _, _ = bifurcation(3.0, 1.5, 3.0, 5.0, rng)
        assert d1**3 + d2**3 == pytest.approx(27.0)
    d1, d2, t1, t2 = bifurcation(1.0, 1.5, 3.0, 1e12, rng)
    assert (d1, d2) == pytest.approx((0.874, 0.693), abs=2e-3)
    assert (t1, t2) == pytest.approx((27.7, 47.6), abs=0.2)


def test_tree_exports(tmp_path):
    tree = grow_lsystem(LSystemParams(n_iter=5, d0_mm=3.0), seed=0)
    tree.write_json(tmp_path / "tree.json")
    assert VesselTree.read_json(tmp_path / "tree.json").n_edges == tree.n_edges
    assert json.loads((tmp_path / "tree.json").read_text())["meta"]["seed"] == 0
    tree.write_vtk(tmp_path / "tree.vtk")
    write_surface(tree, tmp_path / "tree.stl", spacing_mm=1.0)
    assert (tmp_path / "tree.stl").stat().st_size > 1000
    with pytest.raises(InputError):
        tree.write_json(tmp_path / "tree.json")


def test_bad_inputs_raise_input_error():
    empty = VesselTree(np.zeros((1, 3)), [1.0], np.zeros((0, 2)))
    with pytest.raises(InputError):
        voxelize(empty, (8, 8, 8), spacing_mm=1.0)
    line = VesselTree([[0, 0, 0], [1, 0, 0]], [1, 1], [[0, 1]])
    with pytest.raises(InputError):
        voxelize(line, (8, 8, 8), spacing_mm=0.0)
    with pytest.raises(InputError):
        voxelize(line, (100000, 100000, 100000), spacing_mm=1.0)
    with pytest.raises(InputError):
        LSystemParams(n_iter=40)
