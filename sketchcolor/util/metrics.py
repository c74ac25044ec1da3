"""Per-image quality metrics on batches of [-1, 1] images: PSNR, SSIM and L1.

Each function takes two (B, 3, H, W) tensors in [-1, 1] and returns a (B,) tensor, one value per
image, so callers can average over a dataset (and gather across processes) however they like.
Written by hand because they are a few lines of torch, run on any device in the batch, and
keep the project free of another dependency (torchmetrics, scikit-image).

Usage: psnr(fake, real).mean(), ssim(fake, real).mean(), l1(fake, real).mean()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sketchcolor.errors import SketchcolorError

# Images live in [-1, 1], so the peak-to-peak range is 2.
DATA_RANGE = 2.0
# Wang, Bovik, Sheikh & Simoncelli (2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def check_pair(fake: torch.Tensor, real: torch.Tensor) -> None:
    """Both (B, C, H, W) with the same shape."""
    if fake.ndim != 4 or fake.shape != real.shape:
        raise SketchcolorError(
            f"metrics need two (B, C, H, W) batches of one shape, got {tuple(fake.shape)} "
            f"and {tuple(real.shape)}"
        )


def l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image, on the [-1, 1] scale. (B,)"""
    check_pair(fake, real)
    return (fake.float() - real.float()).abs().flatten(1).mean(1)


def psnr(fake: torch.Tensor, real: torch.Tensor, *, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image; identical images give +inf. (B,)"""
    check_pair(fake, real)
    mse = (fake.float() - real.float()).pow(2).flatten(1).mean(1)  # (B,)
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """(size,) normalised 1-D Gaussian; SSIM's 2-D window is its outer product (separable)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def local_mean(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted mean over every full window ('valid', as in Wang et al.'s code).

    On the CPU scipy's separable correlation does it (about 3x faster than torch's grouped
    float64 convolution there); elsewhere the convolution runs on the tensors' device.
    """
    if images.device.type == "cpu":
        from scipy import ndimage

        kernel = window.cpu().numpy()
        values = ndimage.correlate1d(images.numpy(), kernel, axis=2, mode="constant")
        values = ndimage.correlate1d(values, kernel, axis=3, mode="constant")
        trim = (len(kernel) - 1) // 2
        return torch.from_numpy(values[:, :, trim : -trim or None, trim : -trim or None].copy())
    channels = images.shape[1]
    rows = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    columns = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    filtered = F.conv2d(images, rows, groups=channels)
    return F.conv2d(filtered, columns, groups=channels)


def ssim(
    fake: torch.Tensor,
    real: torch.Tensor,
    *,
    data_range: float = DATA_RANGE,
    window_size: int = SSIM_WINDOW,
) -> torch.Tensor:
    """Structural similarity per image, the mean SSIM map over channels and positions. (B,)

    The windowed statistics use float64 so that E[x^2] - E[x]^2 does not cancel badly.
    """
    check_pair(fake, real)
    if min(fake.shape[-2:]) < window_size:
        raise SketchcolorError(
            f"SSIM needs images of at least {window_size}x{window_size}, got "
            f"{fake.shape[-2]}x{fake.shape[-1]}"
        )
    x = fake.double()
    y = real.double()
    window = gaussian_window(window_size).to(x.device)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mean_x = local_mean(x, window)
    mean_y = local_mean(y, window)
    variance_x = local_mean(x * x, window) - mean_x**2
    variance_y = local_mean(y * y, window) - mean_y**2
    covariance = local_mean(x * y, window) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (variance_x + variance_y + c2)
    return (numerator / denominator).flatten(1).mean(1).float()
