"""The fast Fréchet distance against pytorch-fid's own function, full-rank and rank-deficient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid, frechet

# Tolerances: float64 matrix square roots (scipy/LAPACK), rel=1e-4 against pytorch-fid, 1e-9
# where the answer is exact; checked with the CPU capped at AVX2 and at the default path.
pytestmark = pytest.mark.precision


def correlated_statistics(images: int, dimensions: int, seed: int):
    """mu, sigma of `images` correlated feature vectors (rank min(images - 1, dimensions))."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(dimensions) + 0.1 * rng.normal(size=(dimensions, dimensions))
    features = np.abs(rng.normal(size=(images, dimensions)) @ mixing)  # like ReLU'd pool3
    return fid.feature_statistics(features)


@pytest.mark.parametrize(
    ("images", "dimensions"),
    [(600, 256), (64, 256), (2, 64)],
    ids=["full-rank", "rank-deficient", "rank-one"],
)
def test_equals_pytorch_fid(images, dimensions):
    first = correlated_statistics(images, dimensions, seed=1)
    second = correlated_statistics(images, dimensions, seed=2)
    expected = fid.reference_frechet_distance(*first, *second)
    assert frechet.frechet_distance(*first, *second) == pytest.approx(expected, rel=1e-4)
    assert fid.frechet_distance(*first, *second) == pytest.approx(expected, rel=1e-4)


def test_shifted_gaussians_of_equal_covariance_are_the_mean_distance_apart():
    rng = np.random.default_rng(0)
    sigma = np.cov(rng.normal(size=(50, 8)), rowvar=False)
    mu = rng.normal(size=8)
    assert frechet.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)
    assert frechet.frechet_distance(mu, sigma, mu + 3, sigma) == pytest.approx(9 * 8, rel=1e-9)


def test_trace_of_sqrtm_of_a_product_of_diagonals():
    first = torch.diag(torch.tensor([4.0, 9.0, 0.0], dtype=torch.float64))
    second = torch.diag(torch.tensor([1.0, 4.0, 7.0], dtype=torch.float64))
    assert float(frechet.trace_sqrt_product(first, second)) == pytest.approx(2 + 6 + 0)


def test_bad_statistics_are_one_line_errors():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(SketchcolorError, match="differ in shape"):
        frechet.frechet_distance(mu, sigma, np.zeros(4), np.eye(4))
    with pytest.raises(SketchcolorError, match="does not match mu"):
        frechet.frechet_distance(mu, np.eye(4), mu, np.eye(4))
    with pytest.raises(SketchcolorError, match="NaN"):
        frechet.frechet_distance(mu, sigma * np.nan, mu, sigma)


@pytest.mark.gpu
def test_gpu_float64_equals_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    first = correlated_statistics(300, 256, seed=1)
    second = correlated_statistics(300, 256, seed=2)
    on_cpu = frechet.frechet_distance(*first, *second, device="cpu")
    assert frechet.frechet_distance(*first, *second, device="cuda") == pytest.approx(
        on_cpu, rel=1e-9
    )


def test_every_factorisation_gives_the_same_trace():
    """Cholesky (full rank), pivoted Cholesky (rank-deficient, CPU), eigh square root (GPU's)."""
    full = torch.from_numpy(correlated_statistics(300, 64, seed=3)[1])
    other = torch.from_numpy(correlated_statistics(300, 64, seed=4)[1])
    deficient = torch.from_numpy(correlated_statistics(20, 64, seed=5)[1])
    for first in (full, deficient):
        root = frechet._symmetric_sqrt(first)
        by_root = frechet._sqrt_eigenvalue_sum(root @ other @ root)
        assert float(frechet.trace_sqrt_product(first, other)) == pytest.approx(
            float(by_root), rel=1e-6
        )
    upper, order = frechet._pivoted_cholesky(deficient)
    assert upper.shape == (19, 64)  # 20 images: rank 19
    torch.testing.assert_close(upper.T @ upper, deficient[order][:, order])
