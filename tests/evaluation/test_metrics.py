"""PSNR, SSIM and L1 against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.util import metrics

# Tolerances: SSIM in fp32 against a float64 formula by hand, rel=1e-4..1e-5 (a 7x7 window's
# sums in fp32); checked with the CPU capped at AVX2 and at the default path as well.
pytestmark = pytest.mark.precision


def test_psnr_of_a_constant_offset_is_exact():
    real = torch.rand(2, 3, 16, 16) * 1.5 - 0.75
    offsets = torch.tensor([0.1, 0.02]).view(2, 1, 1, 1)
    values = metrics.psnr(real + offsets, real)
    # MSE = offset^2 and the peak-to-peak range of [-1, 1] is 2: PSNR = 10 log10(4 / offset^2).
    expected = [10 * math.log10(4 / 0.1**2), 10 * math.log10(4 / 0.02**2)]
    assert values.tolist() == pytest.approx(expected, abs=1e-3)


def test_psnr_of_identical_images_is_infinite():
    image = torch.zeros(1, 3, 8, 8)
    assert math.isinf(metrics.psnr(image, image).item())


def test_l1_is_the_mean_absolute_difference():
    real = torch.zeros(2, 3, 4, 4)
    fake = real.clone()
    fake[0] = 0.5
    fake[1, 0] = -1.0  # one channel of three off by 1
    assert metrics.l1(fake, real).tolist() == pytest.approx([0.5, 1 / 3])


def test_ssim_of_identical_images_is_one():
    image = torch.rand(3, 3, 20, 24) * 2 - 1
    assert metrics.ssim(image, image).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)


def test_ssim_of_two_flat_images_follows_the_luminance_term():
    # Flat images have no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) everywhere.
    a, b = 0.3, -0.2
    c1 = (0.01 * 2) ** 2
    fake = torch.full((1, 3, 12, 12), a)
    real = torch.full((1, 3, 12, 12), b)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert metrics.ssim(fake, real).item() == pytest.approx(expected, rel=1e-5)


def test_ssim_on_one_window_matches_the_formula_by_hand():
    """An 11x11 image holds exactly one window: compute Wang et al.'s formula directly."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.8, (11, 11))
    y = np.clip(x + rng.normal(0, 0.3, (11, 11)), -1, 1)
    offsets = np.arange(11) - 5
    weights_1d = np.exp(-(offsets**2) / (2 * 1.5**2))
    weights = np.outer(weights_1d, weights_1d)
    weights /= weights.sum()
    mean_x, mean_y = (weights * x).sum(), (weights * y).sum()
    var_x = (weights * (x - mean_x) ** 2).sum()
    var_y = (weights * (y - mean_y) ** 2).sum()
    cov = (weights * (x - mean_x) * (y - mean_y)).sum()
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    expected = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    fake = torch.from_numpy(x).float().expand(1, 3, 11, 11)
    real = torch.from_numpy(y).float().expand(1, 3, 11, 11)
    assert 0.2 < expected < 0.95  # a case in the middle, where a wrong formula shows
    assert metrics.ssim(fake, real).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_falls_as_noise_grows():
    torch.manual_seed(0)
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    values = [
        metrics.ssim((real + noise * torch.randn_like(real)).clamp(-1, 1), real).item()
        for noise in (0.05, 0.2, 0.8)
    ]
    assert values[0] > values[1] > values[2]


def test_mismatched_or_small_inputs_are_refused():
    with pytest.raises(SketchcolorError, match="one shape"):
        metrics.psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(SketchcolorError, match="at least 11x11"):
        metrics.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
