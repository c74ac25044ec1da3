"""The one conversion between the system's images (float NCHW in [-1, 1]) and file pixels
(uint8 NHWC), so every boundary rounds the same way.

Usage: pixels = to_uint8(images)   # (B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8
"""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8 on the host (values outside clamp)."""
    values = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255)
    return values.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, C, H, W) float32 in [-1, 1]."""
    images = np.ascontiguousarray(images)
    if not images.flags.writeable:  # np.asarray of a PIL image: torch would warn, then share it
        images = images.copy()
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def image_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """One (H, W, C) uint8 picture -> (1, C, H, W) float32 in [-1, 1]."""
    return from_uint8(pixels[None])


def tensor_to_image(image: torch.Tensor) -> np.ndarray:
    """One (1, C, H, W) or (C, H, W) image in [-1, 1] -> (H, W, C) uint8."""
    return to_uint8(image if image.dim() == 4 else image[None])[0]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped (what torchvision's image writers and Inception expect)."""
    return (images.float().clamp(-1, 1) + 1) / 2
