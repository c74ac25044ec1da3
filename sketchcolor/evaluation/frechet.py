"""The Fréchet distance between two Gaussians, pytorch-fid's value without scipy's `sqrtm`.

    d = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))

Only the trace of sqrtm(S1 S2) is needed, and that is the sum of the square roots of the
eigenvalues of S1 S2 (as torchmetrics computes it). For any factor S1 = L L^T those equal the
eigenvalues of the symmetric positive semi-definite M = L^T S2 L, so one Cholesky factor and
one symmetric eigenvalue solve (`eigvalsh`) replace the Schur-based `sqrtm`. A rank-deficient
S1 (fewer images than dimensions) has no plain Cholesky factor: on the CPU LAPACK's pivoted
Cholesky (`dpstrf`) gives the rank-r factor (and M shrinks to r x r); on a GPU the symmetric
square root from `eigh` serves. Rounding can leave eigenvalues a hair below zero; they are
clamped to 0, their true value. Everything is float64, on the GPU when there is one.

Usage: frechet_distance(mu1, sigma1, mu2, sigma2)  # -> float, pytorch-fid's within 1e-6
"""

from __future__ import annotations

import numpy as np
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.util.devices import choose_device


def default_device() -> torch.device:
    """The GPU when there is one (float64 eigen-solvers run there too), else the CPU."""
    return choose_device()


def _symmetric_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """sqrt of a symmetric PSD matrix through its eigen-decomposition (negatives -> 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def _pivoted_cholesky(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U (r, n), order (n,)) with matrix[order][:, order] = U^T U, r its numerical rank (CPU)."""
    from scipy.linalg.lapack import dpstrf

    factor, pivots, rank, info = dpstrf(matrix.numpy(), lower=0, tol=-1.0)
    if info < 0:
        raise SketchcolorError(f"FID statistics: pivoted Cholesky failed (LAPACK info {info})")
    upper = torch.from_numpy(np.triu(factor)[:rank])
    return upper, torch.from_numpy(pivots.astype(np.int64) - 1)


def _sqrt_eigenvalue_sum(middle: torch.Tensor) -> torch.Tensor:
    middle = (middle + middle.T) / 2  # exactly symmetric, as eigvalsh assumes
    return torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr(sqrtm(sigma1 @ sigma2)) for symmetric PSD sigma1, sigma2 (float64 tensors)."""
    lower, info = torch.linalg.cholesky_ex(sigma1)
    if int(info) == 0:  # full rank: sigma1 = L L^T
        return _sqrt_eigenvalue_sum(lower.T @ sigma2 @ lower)
    if sigma1.device.type == "cpu":  # rank-deficient: sigma1[o][:, o] = U^T U
        upper, order = _pivoted_cholesky(sigma1)
        return _sqrt_eigenvalue_sum(upper @ sigma2[order][:, order] @ upper.T)
    root1 = _symmetric_sqrt(sigma1)
    return _sqrt_eigenvalue_sum(root1 @ sigma2 @ root1)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    device: torch.device | str | None = None,
) -> float:
    """pytorch-fid's `calculate_frechet_distance`, by symmetric eigenvalues in float64."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise SketchcolorError(
            f"FID statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
            f"sigma {sigma1.shape} vs {sigma2.shape}"
        )
    if sigma1.shape != (len(mu1), len(mu1)):
        raise SketchcolorError(
            f"FID statistics: sigma {sigma1.shape} does not match mu {mu1.shape}"
        )
    device = torch.device(device) if device is not None else default_device()
    tensors = [torch.as_tensor(np.asarray(a, np.float64), device=device) for a in
               (mu1, sigma1, mu2, sigma2)]  # fmt: skip
    m1, s1, m2, s2 = tensors
    if not all(torch.isfinite(t).all() for t in tensors):
        raise SketchcolorError("FID statistics contain NaN or infinity")
    difference = m1 - m2
    distance = difference @ difference + s1.trace() + s2.trace() - 2 * trace_sqrt_product(s1, s2)
    return float(distance)
