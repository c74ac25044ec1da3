"""Synthetic sketch/colour pairs in the Kaggle "Anime Sketch Colorization Pair" layout.

Each picture imitates flat-coloured line art: overlapping ellipses, polygons and curved strokes
with flat random colours and a simple cel shadow, black outlines, a few interior lines. The
sketch is the same drawing with every fill white, so the region colours can be recovered only
from the colour half (palettes and hint labels then carry real information).

Pair i depends only on (seed, i): the same seed writes the same bytes, whatever `count`.

Usage: write_synthetic_dataset(Path("synth"), SynthConfig(count=100, size=256, seed=0))
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sketchcolor.config import SynthConfig

OUTLINE = (0, 0, 0)
WHITE = (255, 255, 255)


def write_synthetic_dataset(out: Path, config: SynthConfig, *, progress: bool = True) -> dict:
    """Write OUT/data/train/*.png and OUT/data/val/*.png; return counts per split.

    Files are named by number like the Kaggle set ("0.png", "1.png", ...); train takes the
    first numbers, val the last.
    """
    from tqdm import tqdm

    out = Path(out)
    train_count = config.count - config.val_count
    for split in ("train", "val"):
        (out / "data" / split).mkdir(parents=True, exist_ok=True)
    for index in tqdm(range(config.count), desc="synth", unit="pair", disable=not progress):
        split = "train" if index < train_count else "val"
        path = out / "data" / split / f"{index}.png"
        path.write_bytes(encode_png(make_pair(config.size, seed=config.seed, index=index)))
    return {"train": train_count, "val": config.val_count}


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with fixed settings, so the same picture always gives the same bytes."""
    buffer = io.BytesIO()
    # Level 1: files about 20% larger than level 6 and encoding several times faster.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def make_pair(size: int, *, seed: int, index: int) -> Image.Image:
    """One pair as an RGB image 2*size wide, size high: colour left, sketch right."""
    rng = np.random.default_rng([seed, index])
    color, sketch = draw_scene(size, rng)
    pair = Image.new("RGB", (2 * size, size))
    pair.paste(color, (0, 0))
    pair.paste(sketch, (size, 0))
    return pair


def draw_scene(size: int, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """Draw the colour picture and its sketch together, shape by shape (later shapes on top)."""
    color = np.empty((size, size, 3), np.uint8)  # (H, W, 3)
    color[:] = random_color(rng, light=True)
    sketch = np.full((size, size, 3), 255, np.uint8)  # (H, W, 3)
    line_width = max(1, size // 128)
    for _ in range(int(rng.integers(4, 9))):
        mask, box = random_shape_mask(size, rng)  # (h, w) bool inside the box
        base = random_color(rng)
        shadow = cel_shadow(mask, size, rng)
        outline = outline_of(mask, line_width)
        color_box, sketch_box = color[box], sketch[box]  # views: writes go to the picture
        color_box[mask] = base
        color_box[shadow] = shade(base, 0.65)
        color_box[outline] = OUTLINE
        sketch_box[mask] = WHITE
        sketch_box[outline] = OUTLINE
    for _ in range(int(rng.integers(1, 4))):
        stroke = curved_stroke(size, rng, line_width)
        color[stroke] = OUTLINE
        sketch[stroke] = OUTLINE
    return Image.fromarray(color), Image.fromarray(sketch)


def random_color(rng: np.random.Generator, *, light: bool = False) -> tuple[int, int, int]:
    """A saturated random colour (light pastel for backgrounds) from a random hue."""
    hue = rng.random()
    saturation = rng.uniform(0.15, 0.35) if light else rng.uniform(0.45, 1.0)
    value = rng.uniform(0.9, 1.0) if light else rng.uniform(0.45, 1.0)
    return hsv_to_rgb(hue, saturation, value)


def hsv_to_rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    import colorsys

    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(round(channel * factor) for channel in color)


def random_shape_mask(size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """A random ellipse, polygon or thick curved band: (bool mask of its box, box slices).

    Working inside the shape's bounding box (plus a margin wider than any shadow shift or
    outline) instead of the whole picture made drawing about twice as fast.
    """
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    kind = rng.integers(3)
    centre = rng.uniform(0.1, 0.9, 2) * size
    radius = rng.uniform(0.08, 0.35, 2) * size
    if kind == 0:
        draw.ellipse([*(centre - radius), *(centre + radius)], fill=255)
    elif kind == 1:
        corners = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
        reach = rng.uniform(0.5, 1.0, corners)[:, None] * radius
        points = centre + reach * np.stack([np.cos(angles), np.sin(angles)], 1)
        draw.polygon([tuple(point) for point in points], fill=255)
    else:
        width = max(3, int(rng.uniform(0.04, 0.12) * size))
        draw.line(bezier_points(size, rng), fill=255, width=width, joint="curve")
    return _crop_to_shape(mask, margin=int(0.06 * size) + size // 128 + 2)


def _crop_to_shape(mask: Image.Image, *, margin: int) -> tuple[np.ndarray, tuple]:
    left, top, right, bottom = mask.getbbox() or (0, 0, 1, 1)
    left, top = max(0, left - margin), max(0, top - margin)
    right, bottom = min(mask.width, right + margin), min(mask.height, bottom + margin)
    crop = np.asarray(mask.crop((left, top, right, bottom))) > 0
    return crop, (slice(top, bottom), slice(left, right))


def bezier_points(size: int, rng: np.random.Generator, steps: int = 24) -> list[tuple]:
    """Points along a random quadratic Bezier curve across the picture."""
    start, control, end = rng.uniform(0.05, 0.95, (3, 2)) * size
    t = np.linspace(0, 1, steps)[:, None]
    curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
    return [tuple(point) for point in curve]


def cel_shadow(mask: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The part of the shape not covered by itself shifted up-left: a crescent shadow."""
    shift = max(2, int(rng.uniform(0.02, 0.06) * size))
    lit = np.zeros_like(mask)
    lit[:-shift, :-shift] = mask[shift:, shift:]
    return mask & ~lit


def outline_of(mask: np.ndarray, width: int) -> np.ndarray:
    """The boundary band of a mask: the mask minus its erosion by `width` pixels.

    Erosion by shifted slices: PIL's MinFilter took most of the drawing time.
    """
    eroded = mask.copy()
    for _ in range(width):
        inner = eroded.copy()
        inner[1:] &= eroded[:-1]
        inner[:-1] &= eroded[1:]
        inner[:, 1:] &= eroded[:, :-1]
        inner[:, :-1] &= eroded[:, 1:]
        eroded = inner
    return mask & ~eroded


def curved_stroke(size: int, rng: np.random.Generator, width: int) -> np.ndarray:
    """An interior line (a hair strand, a fold) present in both halves: (H, W) bool."""
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).line(bezier_points(size, rng), fill=255, width=width, joint="curve")
    return np.asarray(mask) > 0
