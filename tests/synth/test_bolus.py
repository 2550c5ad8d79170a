"""Gamma-variate bolus."""

import numpy as np
import pytest
from scipy.integrate import quad

from angiogen.errors import InputError
from angiogen.synth.bolus import Bolus
from angiogen.synth.tree import VesselTree


@pytest.mark.parametrize("alpha, t_peak", [(3.0, 1.0), (1.5, 2.5)])
def test_gamma_variate_peaks_at_t_peak_with_c_peak(alpha, t_peak):
    bolus = Bolus(alpha=alpha, t_peak_s=t_peak, c_peak_mg_ml=150.0)
    tau = np.linspace(0.0, 10 * t_peak, 100001)
    curve = bolus.curve(tau)
    assert tau[curve.argmax()] == pytest.approx(t_peak, abs=1e-3)
    assert curve.max() == pytest.approx(150.0)
    assert quad(bolus.curve, 0, 60 * t_peak)[0] == pytest.approx(bolus.area(), rel=1e-6)


def test_front_arrives_along_path_length():
    tree = VesselTree([[0, 0, 0], [100, 0, 0], [100, 50, 0]], [1, 1, 1], [[0, 1], [1, 2]])
    bolus = Bolus(v_root_mm_s=100.0, t_inject_s=0.5)
    assert bolus.arrival_times_s(tree) == pytest.approx([0.5, 1.5, 2.0])
    frames = bolus.node_concentration(tree, [1.0, 2.5])
    assert frames.shape == (2, 3) and frames[0, 1] == 0.0 and frames[0, 2] == 0.0
    assert frames[1, 1] == pytest.approx(bolus.c_peak_mg_ml)


def test_bad_bolus_parameters():
    with pytest.raises(InputError):
        Bolus(t_peak_s=0.0)
