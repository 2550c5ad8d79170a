"""Analytic values of the image metrics (PSNR, RMS, SSIM, ROI mask, central crop)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from angiogen.metrics.image import central_crop, psnr, rms, ssim


def test_psnr_of_a_constant_offset_is_analytic() -> None:
    target = np.zeros((8, 8))
    # MSE = 0.1^2, range 1: 10 log10(1 / 0.01) = 20 dB; range 2 adds 20 log10(2) dB
    assert psnr(target + 0.1, target, 1.0) == pytest.approx(20.0)
    assert psnr(target + 0.1, target, 2.0) == pytest.approx(20.0 + 20 * math.log10(2))
    half = target.copy()
    half[:4] = 0.2  # MSE = 0.5 * 0.04 = 0.02
    assert psnr(half, target, 1.0) == pytest.approx(10 * math.log10(1 / 0.02))
    assert psnr(target, target, 1.0) == math.inf


def test_rms_of_a_known_signal() -> None:
    image = np.array([[3.0, -4.0], [0.0, 0.0]])
    assert rms(image) == pytest.approx(2.5)  # sqrt((9 + 16) / 4)
    assert rms(image, np.array([[True, True], [False, False]])) == pytest.approx(math.sqrt(12.5))


def test_ssim_of_a_contrast_scaled_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 1.0, (48, 48))
    assert ssim(image, image, 1.0) == pytest.approx(1.0)
    # a constant offset c changes only the luminance term (2 mu (mu + c) + C1) / (mu^2 + (mu + c)^2 + C1) < 1
    assert ssim(image + 0.2, image, 1.0) < ssim(image + 0.05, image, 1.0) < 1.0
    # inverting the contrast makes the structure term negative
    assert ssim(1.0 - image, image, 1.0) < 0.0


def test_central_crop_of_odd_margins_takes_the_floor() -> None:
    image = np.arange(7 * 9).reshape(7, 9)
    crop = central_crop(image, 4)
    assert crop.shape == (4, 4) and crop[0, 0] == image[1, 2]
