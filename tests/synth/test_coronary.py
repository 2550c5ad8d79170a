"""Coronary trees."""

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.synth.coronary import Stenosis, coronary_tree


@pytest.mark.parametrize("side", ["left", "right"])
def test_murray_law_at_bifurcations(side):
    tree = coronary_tree(side, seed=1)
    degree = tree.node_degree()
    checked = 0
    for node in np.flatnonzero(degree == 3):
        parent = tree.edges[tree.edges[:, 1] == node, 0]
        children = tree.edges[tree.edges[:, 0] == node, 1]
        assert len(parent) == 1 and len(children) == 2
        r0 = tree.radii_mm[node]
        assert tree.radii_mm[children[0]] ** 3 + tree.radii_mm[children[1]] ** 3 == pytest.approx(r0**3, rel=0.05)
        checked += 1
    assert checked >= 2


def test_stenosis_reduces_radius_by_the_stated_percent():
    plain = coronary_tree("left", seed=2, step_mm=1.0)
    narrowed = coronary_tree("left", seed=2, step_mm=1.0, stenoses=(Stenosis("LAD", 0.3, 70.0),))
    ratio = narrowed.radii_mm / plain.radii_mm
    assert ratio.min() == pytest.approx(0.3, abs=1e-9)
    lad = [k for k, v in plain.segment_names.items() if v == "LAD"][0]
    assert np.all(ratio[np.setdiff1d(np.arange(plain.n_nodes), plain.edges[plain.edge_segment == lad])] == 1.0)


def test_phase_scaling_and_bad_input():
    diastole, systole = coronary_tree("left", seed=0), coronary_tree("left", seed=0, phase=0.5)
    assert np.ptp(systole.positions_mm, axis=0).max() < np.ptp(diastole.positions_mm, axis=0).max()
    with pytest.raises(InputError):
        coronary_tree("left", stenoses=(Stenosis("XYZ"),))
    with pytest.raises(InputError):
        Stenosis("LAD", percent=120)
