"""Random C-arm views and projected backgrounds: ranges, determinism under a seed, the CT-torso switch."""

from __future__ import annotations

import numpy as np

from angiogen.synth.anatomy import ANATOMIES
from angiogen.synth.backgrounds import ViewSampler, background_views


def test_views_stay_in_their_ranges_and_follow_the_seed() -> None:
    sampler = ViewSampler(primary_range_deg=10.0, secondary_range_deg=5.0, detector_px=24, pixel_mm=3.0)
    views = [sampler(np.random.default_rng([1, i])) for i in range(50)]
    primary = np.array([v.primary_deg for v in views])
    secondary = np.array([v.secondary_deg for v in views])
    assert np.all(np.abs(primary) <= 10.0) and np.all(np.abs(secondary) <= 5.0)
    assert primary.std() > 3.0 and secondary.std() > 1.5  # they do vary across the range
    assert views[0].rows == views[0].cols == 24 and views[0].pixel_spacing_mm == (3.0, 3.0)
    assert sampler(np.random.default_rng([1, 0])) == views[0]


def test_backgrounds_are_reproducible_and_the_torso_share_switches_phantom() -> None:
    sampler = ViewSampler(detector_px=24, pixel_mm=8.0)
    analytic = background_views(np.random.default_rng(5), sampler, 2, ANATOMIES, ct_torso_fraction=0.0)
    again = background_views(np.random.default_rng(5), sampler, 2, ANATOMIES, ct_torso_fraction=0.0)
    assert analytic.shape == (2, 24, 24) and analytic.dtype == np.float32
    np.testing.assert_array_equal(analytic, again)
    assert analytic.min() >= 0 and analytic.max() > 1.0  # a body attenuates: line integrals well above 0
    torso = background_views(np.random.default_rng(5), sampler, 2, ANATOMIES, ct_torso_fraction=1.0)
    assert torso.shape == analytic.shape and torso.max() > 1.0
    assert not np.allclose(torso, analytic)
