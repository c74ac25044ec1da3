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


def pixels_to_images(pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, C, H, W) in [0, 255] -> float [-1, 1] on `device`, on the device: one float
    copy, then in place (at 512 px a batch is tens of MB, and each extra full-size temporary
    cost the loader's main process more than a worker's decode of a pair)."""
    return pixels.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


def as_saved_pixels(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> [0, 1] rounded to 8-bit levels, on the tensors' device: the
    values a PNG of the images would hold."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round() / 255.0


COLOR_GRID_LEVELS = 8
"""Cells per channel of the colour grid: 256 / 8 = 32 wide, so a cell's centre is at most
16/255 from its colours (the interactive benchmark accepts 24)."""


def color_cells(colors: np.ndarray) -> np.ndarray:
    """(..., 3) colours in [0, 1] -> (...) their cell of the 8-level RGB grid (0 to 511)."""
    levels = np.clip((colors * COLOR_GRID_LEVELS).astype(np.int64), 0, COLOR_GRID_LEVELS - 1)
    return (levels[..., 0] * COLOR_GRID_LEVELS + levels[..., 1]) * COLOR_GRID_LEVELS + levels[
        ..., 2
    ]


def cell_centres(cells: np.ndarray) -> np.ndarray:
    """(K,) cells of the colour grid -> (K, 3) their centres in [0, 1]."""
    levels = np.stack([cells // COLOR_GRID_LEVELS**2, cells // COLOR_GRID_LEVELS % COLOR_GRID_LEVELS,
                       cells % COLOR_GRID_LEVELS], axis=-1)  # fmt: skip
    return (levels + 0.5) / COLOR_GRID_LEVELS
