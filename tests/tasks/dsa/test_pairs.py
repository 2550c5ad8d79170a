"""Training pairs: vessel-only targets, live = background + target up to Poisson noise, joint augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from angiogen.tasks.dsa.data import Banks
from angiogen.tasks.dsa.pairs import VESSEL_THRESHOLD, PairConfig, augment, box_blur, crop_origins, draw_pairs

NO_NOISE = (1e11, 1e11)  # photons per pixel: noise sd ~ 1e-5 line-integral units at p = 4


def _banks(backgrounds: np.ndarray, vessels: np.ndarray) -> Banks:
    backgrounds = np.asarray(backgrounds, np.float32)
    empty = np.zeros((1, *backgrounds.shape[1:]), np.float32)
    return Banks(backgrounds, np.asarray(vessels, np.float32), empty, empty, float(backgrounds.mean()),
                 float(backgrounds.std()) or 1.0)


def _dihedral(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rot90 / flip versions of an (H, W) image."""
    turned = [torch.rot90(image, k, dims=(-2, -1)) for k in range(4)]
    return turned + [t.flip(-1) for t in turned]


def _which(candidates: list[torch.Tensor], image: torch.Tensor, atol: float) -> list[int]:
    return [k for k, c in enumerate(candidates) if c.shape == image.shape and torch.allclose(c, image, atol=atol)]


def test_target_is_delta_mu_times_path_length_and_live_minus_target_the_background(tiny_banks: Banks) -> None:
    background, vessel = tiny_banks.backgrounds[:1], tiny_banks.vessels[:1]
    config = PairConfig(batch_size=6, delta_mu_range=(0.03, 0.03), dose_range=NO_NOISE)
    live, target, doses = draw_pairs(_banks(background, vessel), config, seed=0, index=0, crop=False,
                                     augmentation=False)
    assert live.shape == target.shape == (6, 1, 32, 32) and live.dtype == target.dtype == torch.float32
    assert np.allclose(doses.numpy(), 1e11, rtol=1e-6)
    orientations = _dihedral(torch.from_numpy(vessel[0]))
    for k in range(6):
        matches = _which(orientations, target[k, 0] / 0.03, atol=1e-6)
        assert matches, "the target is not delta_mu times a rot90 / flip of the path-length image"
        path_length = orientations[matches[0]]
        assert torch.all(target[k, 0][path_length == 0] == 0)  # vessel only: nothing where no lumen is crossed
        # live - target is the (un-augmented) background, up to the negligible noise at this dose
        torch.testing.assert_close(live[k, 0] - target[k, 0], torch.from_numpy(background[0]), atol=2e-4, rtol=0)


def test_live_minus_target_has_the_background_statistics_at_a_clinical_dose(tiny_banks: Banks) -> None:
    banks = _banks(tiny_banks.backgrounds[:1], tiny_banks.vessels[:1])
    live, target, doses = draw_pairs(banks, PairConfig(batch_size=8), seed=1, index=4, crop=False,
                                     augmentation=False)
    residual = (live - target)[:, 0].numpy().astype(np.float64)
    background = tiny_banks.backgrounds[0].astype(np.float64)
    for k in range(8):
        noise = residual[k] - background
        expected_sd = np.sqrt(np.exp(background) / float(doses[k]))  # delta method, per pixel
        assert abs(noise.mean()) < 4 * expected_sd.mean() / np.sqrt(noise.size)  # unbiased
        assert np.sqrt(np.mean((noise / expected_sd) ** 2)) == pytest.approx(1.0, abs=0.15)
        assert abs(residual[k].mean() - background.mean()) < 0.01
        assert residual[k].std() == pytest.approx(background.std(), rel=0.05)
    assert torch.all(target >= 0)


def test_augmented_pairs_stay_consistent(tiny_banks: Banks) -> None:
    # A constant background: after blur and multiply (one realisation for both images) live - target must be
    # c * m, constant over the crop; any vessel left in the background, or a target blurred or scaled
    # differently from the vessel inside the live frame, would show up as structure.
    constant = np.full((2, 32, 32), 3.0, np.float32)
    config = PairConfig(batch_size=8, crop_px=16, affine_p=0.0, blur_p=1.0, multiply_p=1.0, dose_range=NO_NOISE)
    live, target, _ = draw_pairs(_banks(constant, tiny_banks.vessels), config, seed=2, index=0)
    assert live.shape == target.shape == (8, 1, 16, 16)
    assert torch.all(target >= 0) and float(target.max()) > 0.05
    background = (live - target)[:, 0]
    for k in range(8):
        level = float(background[k].mean())
        assert 3.0 * 0.7 - 1e-3 <= level <= 3.0 * 1.3 + 1e-3
        assert float((background[k] - level).abs().max()) < 5e-4


def test_full_augmentation_gives_nonnegative_targets(tiny_banks: Banks) -> None:
    live, target, doses = draw_pairs(tiny_banks, PairConfig(batch_size=8, crop_px=16), seed=0, index=7)
    assert live.shape == target.shape == (8, 1, 16, 16)
    assert torch.all(target >= 0) and torch.all(torch.isfinite(live))
    assert torch.all((doses >= 5e4 * (1 - 1e-6)) & (doses <= 5e5 * (1 + 1e-6)))
    # 75 % of the crops are centred on a vessel pixel: most crops carry iodine
    assert int(((target > VESSEL_THRESHOLD).flatten(1).any(dim=1)).sum()) >= 4


def test_live_noise_matches_poisson_at_the_returned_doses() -> None:
    p = 2.0
    banks = _banks(np.full((1, 128, 128), p, np.float32), np.zeros((1, 128, 128), np.float32))
    live, target, doses = draw_pairs(banks, PairConfig(batch_size=8), seed=5, index=0, crop=False,
                                     augmentation=False)
    assert torch.all(target == 0)
    assert len(set(doses.tolist())) == 8  # a dose per sample
    for k in range(8):
        values = live[k, 0].double()
        expected_variance = 1.0 / (float(doses[k]) * np.exp(-p))  # delta method: var(-ln N/N0) = 1 / E[N]
        assert float(values.var()) == pytest.approx(expected_variance, rel=0.05)
        assert float(values.mean()) == pytest.approx(p, abs=4 * np.sqrt(expected_variance / values.numel()))


def test_pairs_are_a_pure_function_of_seed_and_index(tiny_banks: Banks) -> None:
    config = PairConfig(batch_size=4, crop_px=16)
    first = draw_pairs(tiny_banks, config, seed=0, index=3)
    again = draw_pairs(tiny_banks, config, seed=0, index=3)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    for other in (draw_pairs(tiny_banks, config, seed=0, index=4), draw_pairs(tiny_banks, config, seed=1, index=3)):
        assert not torch.equal(first[0], other[0]) and not torch.equal(first[2], other[2])


def test_augmentation_is_one_realisation_for_both_images() -> None:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(6, 24, 24, generator=generator), torch.rand(6, 24, 24, generator=generator)
    config = PairConfig()  # everything on: flips, rot90, affine, blur, multiply
    out_a, out_b = augment(a, b, np.random.default_rng(7), config)
    swapped_b, swapped_a = augment(b, a, np.random.default_rng(7), config)
    assert torch.equal(out_a, swapped_a) and torch.equal(out_b, swapped_b)
    same_1, same_2 = augment(a, a.clone(), np.random.default_rng(7), config)
    assert torch.equal(same_1, same_2) and torch.equal(same_1, out_a)
    assert not torch.allclose(out_a, a)
    # linear: augment(a + b) = augment(a) + augment(b), so live = background + target survives it
    summed, _ = augment(a + b, b, np.random.default_rng(7), config)
    torch.testing.assert_close(summed, out_a + out_b, atol=1e-5, rtol=1e-5)


def test_flips_and_rot90_permute_the_pixels_of_both_images_alike() -> None:
    generator = torch.Generator().manual_seed(1)
    backgrounds, vessels = torch.rand(16, 20, 20, generator=generator), torch.rand(16, 20, 20, generator=generator)
    config = PairConfig(affine_p=0.0, blur_p=0.0, multiply_p=0.0)
    out_bg, out_v = augment(backgrounds, vessels, np.random.default_rng(3), config)
    seen = set()
    for k in range(16):
        assert torch.allclose(out_bg[k].flatten().sort().values, backgrounds[k].flatten().sort().values, atol=1e-5)
        matches = _which(_dihedral(backgrounds[k]), out_bg[k], atol=1e-5)
        assert len(matches) == 1
        assert torch.allclose(_dihedral(vessels[k])[matches[0]], out_v[k], atol=1e-5)  # the same transform
        seen.add(matches[0])
    assert len(seen) >= 4  # the flips and turns do happen


def test_multiply_scales_both_images_by_one_factor() -> None:
    generator = torch.Generator().manual_seed(2)
    backgrounds = 1.0 + torch.rand(8, 16, 16, generator=generator)
    vessels = 1.0 + torch.rand(8, 16, 16, generator=generator)
    config = PairConfig(flip_p=0.0, rot90=False, affine_p=0.0, blur_p=0.0, multiply_p=1.0)
    out_bg, out_v = augment(backgrounds, vessels, np.random.default_rng(0), config)
    factors = []
    for k in range(8):
        ratio_bg, ratio_v = out_bg[k] / backgrounds[k], out_v[k] / vessels[k]
        factor = float(ratio_bg.mean())
        assert 0.7 <= factor <= 1.3
        assert torch.allclose(ratio_bg, torch.full_like(ratio_bg, factor), atol=1e-5)
        assert torch.allclose(ratio_v, torch.full_like(ratio_v, factor), atol=1e-5)
        factors.append(factor)
    assert np.std(factors) > 0.01


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5])
def test_box_blur_keeps_constants_and_spreads_a_point_over_size_squared_pixels(size: int) -> None:
    constant = torch.full((2, 12, 12), 1.7)
    torch.testing.assert_close(box_blur(constant, size), constant)
    point = torch.zeros(1, 15, 15)
    point[0, 7, 7] = 1.0
    blurred = box_blur(point, size)
    assert blurred.shape == point.shape
    side = max(size, 1)
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-6)  # mass kept away from the edges
    assert int((blurred > 0).sum()) == side * side
    assert float(blurred.max()) == pytest.approx(1.0 / side**2, rel=1e-6)


def test_crops_centred_on_vessels_contain_vessel_pixels() -> None:
    targets = torch.zeros(3, 40, 40)
    targets[0, 2, 37] = 0.2  # a vessel pixel near a corner: the crop is clamped into the frame
    targets[1, 20:23, 5] = 0.1
    rng = np.random.default_rng(0)
    origins = crop_origins(targets, rng, 16, vessel_centred=1.0)
    for k, (row, col) in enumerate(origins):
        assert 0 <= row <= 40 - 16 and 0 <= col <= 40 - 16
        if k < 2:
            assert float(targets[k, row:row + 16, col:col + 16].max()) > VESSEL_THRESHOLD
    anywhere = crop_origins(targets.repeat(10, 1, 1), rng, 16, vessel_centred=0.0)
    assert all(0 <= r <= 24 and 0 <= c <= 24 for r, c in anywhere) and len(set(anywhere)) > 5
