"""Angiography sequences: mask + vessel = live exactly without noise, Poisson noise at the stated dose."""

import numpy as np
import pytest

from angiogen.errors import InputError
from angiogen.synth.angio import STILL, Motion, angiography_sequence

SMALL = dict(torso_shape=(48, 48, 48), torso_spacing_mm=6.0, vessel_spacing_mm=1.0, detector_px=64,
             pixel_spacing_mm=3.0, n_frames=3, frame_time_s=0.4)


@pytest.fixture(scope="module")
def clean():
    return angiography_sequence(seed=2, photons_per_pixel=None, motion=Motion(breathing_amplitude=1.0), **SMALL)


def test_live_minus_mask_is_the_vessel_ground_truth(clean):
    assert clean.vessel.shape == (3, 64, 64) and clean.vessel.dtype == np.float32
    assert np.array_equal(clean.noisy_live, clean.live) and np.array_equal(clean.noisy_mask, clean.mask)
    np.testing.assert_allclose(clean.live - clean.mask, clean.vessel, atol=1e-6)
    assert clean.vessel[0].max() == 0.0  # frame 0 at the injection: no contrast yet
    assert clean.vessel[2].max() > 0.05 and clean.vessel[2].sum() > clean.vessel[1].sum()
    assert clean.mask.min() >= 0 and clean.mask.max() > 1.0  # the torso attenuates


def test_breathing_moves_mask_and_vessels(clean):
    assert clean.breathing[0] == 0 and clean.breathing[2] > 0.3
    still = angiography_sequence(seed=2, photons_per_pixel=None, motion=STILL, **SMALL)
    assert np.array_equal(still.mask[0], clean.mask[0])
    assert not np.allclose(still.mask[2], clean.mask[2])
    assert not np.allclose(still.vessel[2], clean.vessel[2])


def test_noise_variance_is_poisson_at_the_stated_dose():
    dose = 1e5
    run = angiography_sequence(seed=5, photons_per_pixel=dose, motion=STILL, **SMALL)
    for noisy, clean in ((run.noisy_live, run.live), (run.noisy_mask, run.mask)):
        z = (noisy - clean) * np.sqrt(dose / np.exp(clean))  # Var p~ = e^p / N0
        assert abs(float(z.mean())) < 0.05
        assert float(z.var()) == pytest.approx(1.0, rel=0.06)
    assert not np.array_equal(run.noisy_live[0] - run.live[0], run.noisy_mask[0] - run.mask[0])  # own draws
    again = angiography_sequence(seed=5, photons_per_pixel=dose, motion=STILL, **{**SMALL, "n_frames": 1})
    assert np.array_equal(again.noisy_live[0], run.noisy_live[0])  # a frame's noise depends on (seed, index, frame)


@pytest.mark.parametrize("kwargs", [dict(sod_mm=1000.0, sid_mm=900.0), dict(n_frames=0), dict(frame_time_s=0.0),
                                    dict(photons_per_pixel=-1.0), dict(vessel_spacing_mm=0.0)])
def test_bad_input(kwargs):
    with pytest.raises(InputError):
        angiography_sequence(**{**SMALL, **kwargs})
