"""The reference colour control's data: a coloured picture of the same character that is not
aligned with the sketch, and the colours flattening may take from it.

Training makes the reference from the pair's own colour half (Lee et al., CVPR 2020,
"augmented-self reference"): a random flip, scale, rotation and shift, then a smooth elastic
displacement, so the network must find where each colour sits instead of copying pixels. The
warp is one batched `grid_sample` on the batch's device, drawn from a seeded torch.Generator,
so training needs no per-sample host work. The benchmark warps a sketch and its colours with
one grid (`warp_pair`) to make frames whose truth is known.

Usage:
    reference = augmented_reference(color, torch.Generator().manual_seed(0))
    colours = reference_colors(reference_u8)      # (N, 3) uint8, the reference's own colours
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from sketchcolor.data.regions import RegionLayout, region_layout, segment_regions
from sketchcolor.errors import SketchcolorError


class WarpStrength(NamedTuple):
    """How far a random warp may move a picture, as fractions of its half-size."""

    scale: float
    """Largest relative change of size (0.1: 0.9x to 1.1x)."""
    rotation: float
    """Largest rotation in degrees."""
    shift: float
    """Largest shift, a fraction of the half-size ([-1, 1] coordinates)."""
    elastic: float
    """Largest elastic displacement of a control point, in [-1, 1] coordinates."""


WARP_STRENGTHS = {
    "small": WarpStrength(scale=0.05, rotation=5.0, shift=0.05, elastic=0.02),
    "medium": WarpStrength(scale=0.15, rotation=15.0, shift=0.12, elastic=0.05),
    "large": WarpStrength(scale=0.3, rotation=30.0, shift=0.25, elastic=0.1),
}
"""The benchmark's named deformations; training draws each sample's between none and large."""
TRAINING_STRENGTH = "large"
MIN_AMOUNT = 0.25
"""The least share of TRAINING_STRENGTH a training reference is warped by."""
ELASTIC_POINTS = 5
"""Control points per side of the elastic displacement (a smooth warp, thin-plate-like)."""
FLIP_PROBABILITY = 0.5
"""Training references are mirrored this often (a character seen from its other side)."""


def check_strength(name: str) -> WarpStrength:
    """The named strength; a one-line error for an unknown name."""
    if name not in WARP_STRENGTHS:
        raise SketchcolorError(
            f"unknown warp strength {name!r}; choose one of {', '.join(WARP_STRENGTHS)}"
        )
    return WARP_STRENGTHS[name]


def _uniform(shape, limit, generator: torch.Generator, device) -> torch.Tensor:
    """Uniform in [-limit, limit] (limit a float or a (B, 1...) tensor)."""
    return (torch.rand(shape, generator=generator, device=device) * 2 - 1) * limit


def random_grid(batch: int, height: int, width: int, strength: WarpStrength,
                generator: torch.Generator, *, amount: torch.Tensor | None = None,
                flip: bool = False) -> torch.Tensor:  # fmt: skip
    """(B, H, W, 2) sampling grid of a random similarity transform plus an elastic field.

    amount: (B,) in [0, 1] scaling each sample's strength (None: 1, the full strength); flip:
    mirror half of the samples. Everything is drawn on the generator's device, in one call
    per parameter, whatever the batch size."""
    device = generator.device
    amount = torch.ones(batch, device=device) if amount is None else amount.to(device)
    per_sample = amount[:, None]
    scale = 1 + _uniform((batch, 1), strength.scale, generator, device) * per_sample
    angle = _uniform((batch, 1), math.radians(strength.rotation), generator, device) * per_sample
    shift = _uniform((batch, 2), strength.shift, generator, device) * per_sample
    mirror = torch.ones(batch, 1, device=device)
    if flip:
        flips = torch.rand(batch, 1, generator=generator, device=device) < FLIP_PROBABILITY
        mirror = torch.where(flips, -mirror, mirror)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.cat([cos * mirror, -sin, shift[:, :1]], 1),
                         torch.cat([sin * mirror, cos, shift[:, 1:]], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, [batch, 1, height, width], align_corners=False)
    points = _uniform((batch, 2, ELASTIC_POINTS, ELASTIC_POINTS), strength.elastic, generator,
                      device) * amount[:, None, None, None]  # fmt: skip
    field = F.interpolate(points, size=(height, width), mode="bicubic", align_corners=True)
    return grid + field.permute(0, 2, 3, 1)


def warp(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] resampled along `grid`, white (1) where it leaves them."""
    grid = grid.to(images)
    # grid_sample fills outside with 0: shift white to 0 first, so the fill is white.
    return F.grid_sample(images - 1, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + 1  # fmt: skip


def augmented_reference(color: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training's reference: each colour image (B, 3, H, W) warped at a random strength between
    a quarter of "large" and "large", mirrored half the time; drawn on the generator's device.
    (Never unwarped: a reference in place would teach copying pixels.)"""
    batch, _, height, width = color.shape
    amount = MIN_AMOUNT + (1 - MIN_AMOUNT) * torch.rand(batch, generator=generator,
                                                        device=generator.device)  # fmt: skip
    grid = random_grid(batch, height, width, WARP_STRENGTHS[TRAINING_STRENGTH], generator,
                       amount=amount, flip=True)  # fmt: skip
    return warp(color, grid)


def fixed_reference(color: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """A reproducible reference for held-out pairs (validation, evaluation, sample grids):
    each sample's own "medium" warp, drawn on the CPU from its seed (runs.sample_seed of its
    key), so a sample gets the same reference on any device, in any batch, on any rank."""
    _, _, height, width = color.shape
    grids = [random_grid(1, height, width, WARP_STRENGTHS["medium"],
                         torch.Generator().manual_seed(seed)) for seed in seeds]  # fmt: skip
    return warp(color, torch.cat(grids).to(color.device))


def warp_pair(sketch: torch.Tensor, color: torch.Tensor, strength: str,
              seed: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """A sketch and its colours (B, 3, H, W) moved by one seeded warp of a named strength:
    the benchmark's frames (the unwarped colours are their reference)."""
    batch, _, height, width = sketch.shape
    generator = torch.Generator().manual_seed(seed)
    grid = random_grid(batch, height, width, check_strength(strength), generator)
    return warp(sketch, grid), warp(color, grid)


MOST_REFERENCE_COLORS = 24
SHARE_OF_A_COLOR = 0.002
"""An exact colour counts as one of the reference's own when it covers this share of pixels."""
FLAT_COVERAGE = 0.5
"""A reference is flat-coloured when its own exact colours cover this share of it."""


def reference_colors(reference: np.ndarray, most: int = MOST_REFERENCE_COLORS) -> np.ndarray:
    """The reference's own colours (N, 3) uint8, what flattening snaps regions to.

    reference: (H, W, 3) uint8. For flat-coloured art, its most frequent exact colours (each
    covering at least 0.2% of it; the anti-aliased edges between them are not); for a shaded
    picture, where those cover under half of it, its 9 k-means colours (the palette's)."""
    pixels = reference.reshape(-1, 3)
    wide = pixels.astype(np.int64)
    codes = (wide[:, 0] << 16) | (wide[:, 1] << 8) | wide[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    order = np.argsort(-counts)[:most]
    kept = order[counts[order] >= SHARE_OF_A_COLOR * len(codes)]
    if counts[kept].sum() >= FLAT_COVERAGE * len(codes):
        chosen = values[kept]
        return np.stack([chosen >> 16, (chosen >> 8) & 255, chosen & 255], 1).astype(np.uint8)
    from sketchcolor.data.controls.kmeans import extract_palette

    palette, _shares = extract_palette(reference)  # (9, 3) in [0, 1]
    return np.round(np.asarray(palette) * 255).astype(np.uint8)


def orbit_grids(frames: int, height: int, width: int, strength: str, seed: int) -> torch.Tensor:
    """(frames, H, W, 2) grids of a character moving in a loop: frame t shifts, turns and
    bends along a circle (angle 2 pi t / frames) at the named strength, so every frame is as
    far from the unmoved keyframe as every other while neighbours differ a little (the chained
    sequence of the reference benchmark)."""
    limits = check_strength(strength)
    generator = torch.Generator().manual_seed(seed)
    bends = _uniform((2, 2, ELASTIC_POINTS, ELASTIC_POINTS), limits.elastic, generator, "cpu")
    phase = torch.arange(frames, dtype=torch.float32) * (2 * math.pi / frames)
    cos, sin = torch.cos(phase), torch.sin(phase)
    angle = math.radians(limits.rotation) * sin
    shift = limits.shift * torch.stack([cos, sin], 1)  # (F, 2)
    theta = torch.stack([torch.stack([torch.cos(angle), -torch.sin(angle), shift[:, 0]], 1),
                         torch.stack([torch.sin(angle), torch.cos(angle), shift[:, 1]], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, [frames, 1, height, width], align_corners=False)
    points = cos[:, None, None, None] * bends[0] + sin[:, None, None, None] * bends[1]
    field = F.interpolate(points, size=(height, width), mode="bicubic", align_corners=True)
    return grid + field.permute(0, 2, 3, 1)


# ----------------------------------------------------------------------------- the reference's regions

REFERENCE_LINE_LEVEL = 60
"""A reference pixel whose every channel is below this (of 255) is line: coloured art has dark
fills (a navy coat) that the sketch threshold would take for lines."""
LAYOUT_SIDE = 320
"""A reference's regions are found on every n-th pixel, at most this many across."""


def reference_layout(reference: np.ndarray) -> RegionLayout | None:
    """A coloured reference's regions (trapped-ball regions of its near-black lines, found at
    most LAYOUT_SIDE px across: a layout does not depend on the resolution, the cost does), or
    None when its lines close fewer than two (a painting without line art)."""
    step = math.ceil(max(reference.shape[:2]) / LAYOUT_SIDE)
    reference = reference[::step, ::step]  # every step-th pixel: the colours stay exact
    lines = (reference < REFERENCE_LINE_LEVEL).all(axis=2)
    regions = segment_regions(lines)
    if regions.max() < 2:
        return None
    return region_layout(reference, regions, lines)
