"""Native-size completion: the measured opening kept exactly, the completion feathered in without a seam."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from angiogen.errors import InputError
from angiogen.synth.collimation import random_opening
from angiogen.tasks.uncrop.infer import FEATHER_PX, blend_weight, check_opening, complete


def _image(seed: int = 1, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[:size, :size]
    full = 0.5 + 0.25 * np.sin(r / 6.0) * np.cos(c / 9.0) + 0.05 * rng.standard_normal((size, size))
    opening = random_opening(rng, (size, size), (0.1, 0.3))
    collimated = np.where(opening, full, 0.3 * full)  # random values: sums of them are rarely exact in float32
    return np.clip(collimated, 0, 1).astype(np.float32), opening


def test_the_opening_is_kept_exactly_in_the_mean_and_every_sample(make_model) -> None:  # noqa: ANN001
    collimated, opening = _image()
    completion = complete(make_model(seed=2), collimated, opening, n_samples=8, steps=3, seed=0)
    assert completion.mean.shape == completion.std.shape == (64, 64) and completion.samples.shape == (8, 64, 64)
    assert completion.mean.dtype == completion.std.dtype == completion.samples.dtype == np.float32
    for sample in completion.samples:
        assert np.array_equal(sample[opening], collimated[opening])
    assert np.array_equal(completion.mean[opening], collimated[opening])  # the estimate, too, bit for bit
    assert np.all(completion.std[opening] == 0)
    assert completion.std[~opening].mean() > 0  # K different draws outside
    assert 0 <= completion.mean.min() and completion.mean.max() <= 1


def test_the_same_seed_gives_the_same_completion(make_model) -> None:  # noqa: ANN001
    collimated, opening = _image(3)
    model = make_model(seed=2)
    first, again, other = (complete(model, collimated, opening, 2, 3, seed) for seed in (5, 5, 6))
    assert np.array_equal(first.samples, again.samples) and np.array_equal(first.std, again.std)
    assert not np.array_equal(first.samples, other.samples)
    single = complete(model, collimated, opening, 1, 3, 5)
    assert single.samples.shape == (1, 64, 64) and np.all(single.std == 0)


def test_the_blend_is_a_linear_ramp_outside_the_opening() -> None:
    opening = np.zeros((32, 32), bool)
    opening[10:20, 10:20] = True
    weight = blend_weight(opening, 4.0)
    assert np.all(weight[opening] == 1)
    np.testing.assert_allclose(weight[15, 20:26], [0.75, 0.5, 0.25, 0.0, 0.0, 0.0], atol=1e-6)
    assert np.array_equal(blend_weight(opening, 0.0), opening.astype(np.float32))


def test_the_feathered_paste_has_no_jump(make_model) -> None:  # noqa: ANN001
    collimated, opening = _image(4)
    model = make_model(seed=5)
    raw = complete(model, collimated, opening, 2, 3, seed=1, feather_px=0.0)  # the bare completion outside
    feathered = complete(model, collimated, opening, 2, 3, seed=1)  # the same draws, blended
    distance = ndimage.distance_transform_edt(~opening)
    first_ring = distance == 1
    for bare, blended in zip(raw.samples, feathered.samples):
        raw_step = np.abs(bare - collimated)[first_ring]
        blended_step = np.abs(blended - collimated)[first_ring]
        # 3/4 of the measured image at one pixel out: a quarter of the raw sample's jump at most
        assert np.all(blended_step <= 0.25 * raw_step + 1e-6)
        assert blended_step.mean() < 0.5 * raw_step.mean()
        np.testing.assert_allclose(blended[distance >= FEATHER_PX], bare[distance >= FEATHER_PX], atol=1e-6)
        # moving out ring by ring, the blend goes continuously from the measured image to the sample
        for ring in range(1, int(FEATHER_PX)):
            band = distance == ring
            expected = (1 - ring / FEATHER_PX) * collimated[band] + ring / FEATHER_PX * bare[band]
            np.testing.assert_allclose(blended[band], expected, atol=1e-5)


def test_masks_without_an_opening_or_without_a_missing_region_are_refused() -> None:
    with pytest.raises(InputError, match="all black") as error:
        check_opening(np.zeros((8, 8), bool), "mask.png")
    assert str(error.value).startswith("mask.png")
    with pytest.raises(InputError, match="all white"):
        check_opening(np.ones((8, 8), bool), "mask.png")
    check_opening(np.eye(8, dtype=bool), "mask.png")
