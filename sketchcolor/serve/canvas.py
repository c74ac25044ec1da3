"""What the web app's canvases give and show: brush strokes as a hints image, the region map.

The brush canvas (Gradio's ImageEditor, the sketch as its background) hands over its layers as
RGBA arrays; every painted pixel (alpha > 0) becomes a hint pixel of its colour, i.e. a hints
PNG with alpha as the mask, which `sketchcolor colorize --hints` and the colorize path read
(data/user_controls.hints_from_png). The region map shows how flat colours split the sketch:
the regions its lines close (data/regions.py), each in its own colour, the lines on top.

Usage:
    rgba = strokes_rgba(editor_value["layers"], (height, width))   # None when nothing painted
    picture = region_picture(sketch_uint8)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

REGION_LEVELS = 160
"""Region colours use channel values 96..255 (light, so the lines on top stay readable)."""


def strokes_rgba(layers: list[np.ndarray], size: tuple[int, int]) -> np.ndarray | None:
    """Brush layers (each (h, w, 4) uint8, later ones on top) -> one (H, W, 4) uint8 hints image
    at the sketch's (H, W): painted pixels opaque in their colour, the rest transparent. None
    when no layer has a painted pixel."""
    height, width = size
    rgba = np.zeros((height, width, 4), np.uint8)
    for layer in layers:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] != 4:
            continue  # not an RGBA layer: nothing painted that we can read
        if layer.shape[:2] != (height, width):  # the canvas is the sketch's size; in case not
            layer = np.asarray(Image.fromarray(layer).resize((width, height), Image.NEAREST))
        painted = layer[..., 3] > 0
        rgba[painted, :3] = layer[painted, :3]
        rgba[painted, 3] = 255
    return rgba if rgba[..., 3].any() else None


def region_colors(count: int) -> np.ndarray:
    """(count + 1, 3) uint8: a different light colour for each region 1..count (row 0 unused).

    Region k is k * 7919 mod 160^3 written in base 160 (7919 is prime to 160, so this is a
    permutation: no two regions share a colour), which also scatters neighbours' colours."""
    codes = (np.arange(count + 1, dtype=np.int64) * 7919) % REGION_LEVELS**3
    digits = [(codes // REGION_LEVELS**power) % REGION_LEVELS for power in (2, 1, 0)]
    return (np.stack(digits, axis=1) + 256 - REGION_LEVELS).astype(np.uint8)


def region_picture(sketch: np.ndarray) -> tuple[np.ndarray, int]:
    """uint8 (H, W, 3) sketch -> (its region map as uint8 (H, W, 3), the number of regions):
    each region the sketch's lines close (small gaps closed) in its own colour, lines on top."""
    from sketchcolor.data.regions import draw_lines, line_mask, segment_regions

    regions = segment_regions(line_mask(sketch))
    count = int(regions.max())
    return draw_lines(region_colors(count)[regions], sketch), count
