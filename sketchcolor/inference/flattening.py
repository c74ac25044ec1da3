"""`--flatten` for a colorizer's output: one colour per region the sketch's lines close (gaps
closed by trapped-ball filling), the user's label colour where one sits, else the median of
the network's output over the region (snapped to the nearest of a reference's own colours
when one is given; with a reference's region layout, the colour of the reference region each
region matches), and the lines drawn back on top (data/regions.py).
Flat colours are what cel-shaded line art has, and no colour leaks through a gap.

Usage: flat = flatten_picture(output, sketch, hints)   # (1, 3, H, W) tensors in [-1, 1]
"""

from __future__ import annotations

import numpy as np
import torch

from sketchcolor.data.regions import (
    draw_lines,
    label_points,
    line_mask,
    region_colors,
    segment_regions,
)
from sketchcolor.util.images import from_uint8, to_uint8


def flatten_picture(output: torch.Tensor, sketch: torch.Tensor, hints=None,
                    colors: np.ndarray | None = None, reference=None) -> torch.Tensor:  # fmt: skip
    """One output (1, 3, H, W) flattened along its sketch (1, 3, H, W), both in [-1, 1];
    hints: the user's labels (data.conditioning.Hints) at the same size, or None; colors:
    (N, 3) uint8, the only colours an unlabelled region may take (a reference's own);
    reference: a reference's RegionLayout, whose matched regions give the colours."""
    flat = flat_colors(output, sketch, hints, colors, reference)
    return from_uint8(draw_lines(flat, to_uint8(sketch)[0])[None])


def flat_colors(output: torch.Tensor, sketch: torch.Tensor, hints=None,
                colors: np.ndarray | None = None, reference=None) -> np.ndarray:  # fmt: skip
    """flatten_picture's colours before the lines are drawn back: (H, W, 3) uint8, one colour
    per region (the flat layer of a layered file, sketchcolor.inference.layers)."""
    output_u8, sketch_u8 = to_uint8(output)[0], to_uint8(sketch)[0]
    lines = line_mask(sketch_u8)
    regions = segment_regions(lines)
    points = []
    if hints is not None:  # a stroke across several regions colours each of them
        mask = hints.mask[0, 0].cpu().numpy() > 0.5
        points = label_points(mask, to_uint8(hints.rgb)[0], regions, lines)
    return region_colors(output_u8, sketch_u8, regions, points, allowed=colors,
                         reference=reference)  # fmt: skip
