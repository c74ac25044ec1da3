"""Sketches drawn in code, with regions and gaps the tests know.

Usage: sketch = boxed_sketch(gap=4)   # (64, 64, 3) uint8
"""

from __future__ import annotations

import numpy as np
import torch

from sketchcolor.evaluation.interactive import Split
from sketchcolor.util.images import from_uint8

RED = (255, 0, 0)


def boxed_sketch(gap: int) -> np.ndarray:
    """A 64 px frame split by a vertical 2 px line with a `gap` px opening at its middle."""
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[[0, -1], :] = 0
    sketch[:, [0, -1]] = 0
    sketch[:, 31:33] = 0
    if gap:
        sketch[32 - gap // 2 : 32 - gap // 2 + gap, 31:33] = 255
    return sketch


BLUE = (0, 0, 255)


def boxed_split(count: int = 2) -> Split:
    """`count` copies of the two-region frame, the left half red and the right blue."""
    sketch = boxed_sketch(0)
    truth = sketch.copy()
    truth[1:-1, 1:31] = RED
    truth[1:-1, 33:-1] = BLUE
    keys = [f"val_{index:08d}" for index in range(count)]
    return Split(keys, from_uint8(np.stack([sketch] * count)),
                 from_uint8(np.stack([truth] * count)), torch.zeros(count, 9, 3))  # fmt: skip
