"""Where a sketch sits in the generator's canvas: scaled so its longer side is the run's
training size (the scale its strokes were learnt at), padded right and bottom with white to a
size the generator accepts; its colours are cropped and scaled back to its own size.

Usage: placement = place(480, 640, image_size=512, multiple=32, resize=True)
       canvas = to_canvas(sketch, placement, fill=1.0, mode="bicubic")
       colours = from_canvas(output, placement)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Placement:
    """How one sketch sits in the generator's canvas: scaled to (height, width), then padded."""

    original: tuple[int, int]
    scaled: tuple[int, int]
    canvas: tuple[int, int]


def place(height: int, width: int, image_size: int, multiple: int, resize: bool) -> Placement:
    """Scale the longer side to image_size (when resize), then pad up to the size multiple."""
    if resize:
        scale = image_size / max(height, width)
        scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
    else:
        scaled = (height, width)
    canvas = tuple(max(multiple, math.ceil(side / multiple) * multiple) for side in scaled)
    return Placement(original=(height, width), scaled=scaled, canvas=canvas)


def to_canvas(image: torch.Tensor, placement: Placement, *, fill: float, mode: str) -> torch.Tensor:
    """(1, C, H, W) -> (1, C, canvas): resized to the scaled size, padded right/bottom with fill."""
    if tuple(image.shape[-2:]) != placement.scaled:
        kwargs = {"antialias": True} if mode == "bicubic" else {}
        image = F.interpolate(image, size=placement.scaled, mode=mode, **kwargs)
    pad_height = placement.canvas[0] - placement.scaled[0]
    pad_width = placement.canvas[1] - placement.scaled[1]
    return F.pad(image, (0, pad_width, 0, pad_height), value=fill)


def letterbox(image: torch.Tensor, size: tuple[int, int], *, fill: float) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, *size): scaled to fit inside `size` with its aspect ratio kept,
    centred, the rest `fill` (a reference of another shape than the sketch's)."""
    height, width = image.shape[-2:]
    scale = min(size[0] / height, size[1] / width)
    fitted = (
        max(1, min(size[0], round(height * scale))),
        max(1, min(size[1], round(width * scale))),
    )
    image = F.interpolate(image, size=fitted, mode="bicubic", antialias=True).clamp(-1, 1)
    top, left = (size[0] - fitted[0]) // 2, (size[1] - fitted[1]) // 2
    padding = (left, size[1] - fitted[1] - left, top, size[0] - fitted[0] - top)
    return F.pad(image, padding, value=fill)


def from_canvas(output: torch.Tensor, placement: Placement) -> torch.Tensor:
    """(1, 3, canvas) -> (1, 3, original): the padding cropped, scaled back to the sketch's size."""
    height, width = placement.scaled
    output = output[..., :height, :width]
    if placement.scaled != placement.original:
        output = F.interpolate(output, size=placement.original, mode="bicubic", antialias=True)
    return output.clamp(-1, 1)


def group_by_canvas(items: list, batch_size: int) -> list[list]:
    """Consecutive batches of items (each with a `.placement`) whose canvases are the same
    size (they stack), at most batch_size each; items keep their order within a canvas."""
    by_canvas: dict[tuple[int, int], list] = {}
    for item in items:
        by_canvas.setdefault(item.placement.canvas, []).append(item)
    batches = []
    for group in by_canvas.values():
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches
