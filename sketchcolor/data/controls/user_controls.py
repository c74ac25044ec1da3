"""Colour controls from user input, for inference: palettes and hint labels as the model expects.

A palette comes from hex colours or from a reference image (k-means, as the shards were made);
hint labels come from a PNG (labels on a transparent or white background) or from JSON
(`[{"x": 120, "y": 64, "color": "#ff8800"}, {"points": [[30, 40], [80, 44]], "width": 6,
"color": "#3060c0"}]`: dot centres and stroke points in pixels). The results are the
same tensors training uses: palette (1, 9, 3) and `Hints` (1, ...) in [-1, 1].

Usage:
    palette = palette_from_hex(["#203040", "#ffcc00"])
    hints = load_hints("hints.png", size=(512, 512))
    write_reference_hints(Path("ref.png"), Path("hints.png"), HintConfig(), count=20, seed=0)
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from sketchcolor.config import (
    PALETTE_SIZE,
    HintConfig,
    HintsCommandConfig,
    scaled_label_size,
)
from sketchcolor.data.controls.conditioning import Hints, sample_hints, sample_label_counts
from sketchcolor.data.controls.strokes import paint_strokes
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.images import image_to_tensor, tensor_to_image

HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")
LABELS_EXPECTED = (
    'hints: expected a list of labels, dots {"x", "y", "color"} or strokes {"points", "width", '
    '"color"}'
)
WHITE_LEVEL = 250  # pixels at or above this in every channel count as background in opaque PNGs


def parse_hex_color(text: str) -> tuple[float, float, float]:
    """'#ff8800' or 'ff8800' -> RGB in [0, 1]."""
    match = HEX_COLOR.match(text.strip())
    if not match:
        raise SketchcolorError(f"{text!r} is not a colour like #ff8800")
    value = match.group(1)
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))


def palette_from_hex(colors: list[str]) -> torch.Tensor:
    """1 to 9 hex colours, most important first -> (1, 9, 3) in [-1, 1].

    Fewer than 9 colours repeat in order to fill the 9 slots, so each keeps a share of the
    planes in the order given.
    """
    if not 1 <= len(colors) <= PALETTE_SIZE:
        raise SketchcolorError(f"a palette takes 1 to {PALETTE_SIZE} colours, got {len(colors)}")
    rgb = [parse_hex_color(color) for color in colors]
    filled = [rgb[i % len(rgb)] for i in range(PALETTE_SIZE)]
    return torch.tensor(filled, dtype=torch.float32)[None] * 2 - 1  # (1, 9, 3)


def load_rgb(path: Path) -> np.ndarray:
    """An image file -> uint8 (H, W, 3); a one-line error for anything unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise SketchcolorError(f"{path}: cannot read image ({error})") from error


def palette_from_image(image: Path | np.ndarray, *, seed: int = 0) -> torch.Tensor:
    """The 9 k-means colours of a reference image, largest cluster first -> (1, 9, 3) in [-1, 1]."""
    from sketchcolor.data.controls.kmeans import extract_palette

    pixels = load_rgb(Path(image)) if not isinstance(image, np.ndarray) else image
    palette, _shares = extract_palette(pixels, seed=seed)  # (9, 3) in [0, 1]
    return torch.from_numpy(np.asarray(palette, dtype=np.float32))[None] * 2 - 1


def _resize_hints(rgb: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> Hints:
    """Nearest-neighbour resize, so labels keep their exact colours and hard edges."""
    if tuple(rgb.shape[-2:]) != tuple(size):
        rgb = torch.nn.functional.interpolate(rgb, size=size, mode="nearest-exact")
        mask = torch.nn.functional.interpolate(mask, size=size, mode="nearest-exact")
    return Hints(rgb=torch.where(mask > 0, rgb, 1.0), mask=mask)


def hints_from_png(path: Path, size: tuple[int, int] | None = None) -> Hints:
    """Labels drawn on a transparent (alpha) or white background -> Hints at `size` (H, W).

    With any transparency, opaque pixels are labels; a fully opaque image's non-white pixels are.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgba = np.asarray(image.convert("RGBA"))  # (H, W, 4) uint8
    except (OSError, UnidentifiedImageError) as error:
        raise SketchcolorError(f"{path}: cannot read hints image ({error})") from error
    alpha = rgba[..., 3]
    transparent = (alpha < 255).any()
    inside = alpha >= 128 if transparent else (rgba[..., :3] < WHITE_LEVEL).any(axis=-1)
    rgb = image_to_tensor(rgba[..., :3])
    mask = torch.from_numpy(inside)[None, None].float()  # (1, 1, H, W)
    return _resize_hints(rgb, mask, size or tuple(rgb.shape[-2:]))


def hints_from_json(
    source: Path | list | dict,
    size: tuple[int, int],
    *,
    label_size: int = 10,
    source_size: tuple[int, int] | None = None,
) -> Hints:
    """Dots and strokes with their colours -> Hints at `size` (H, W).

    The JSON is a list of labels, each a dot {"x", "y", "color"} or a stroke {"points":
    [[x, y], ...], "width", "color"} (pixels, "#rrggbb"), or an object {"width", "height",
    "labels": [...]} whose coordinates are in a width x height image; `source_size` (H, W)
    says the same from the caller. Coordinates and stroke widths are scaled to `size`; a dot
    is a label_size square, a stroke a round brush of its width (data/controls/strokes.py); a later
    label covers an earlier one. A label outside that image, a missing field or a non-finite
    number is a one-line error.
    """
    origin = "" if isinstance(source, list | dict) else f"{source}: "
    data = source if isinstance(source, list | dict) else _read_json(Path(source))
    try:
        labels, source_size = _labels_and_frame(data, source_size or tuple(size))
        parsed = [_parse_label(number, label, source_size) for number, label in enumerate(labels)]
    except SketchcolorError as error:
        raise SketchcolorError(f"{origin}{error}") from error
    height, width = size
    scale_y, scale_x = height / source_size[0], width / source_size[1]
    rgb = torch.ones(1, 3, height, width)
    mask = torch.zeros(1, 1, height, width)
    for label in parsed:
        if isinstance(label, Stroke):
            stroke_rgb, stroke_mask = _paint_stroke(label, (scale_y, scale_x), (height, width))
            rgb = torch.where(stroke_mask > 0, stroke_rgb, rgb)
            mask = torch.maximum(mask, stroke_mask)
            continue
        x, y, color = label
        x, y = x * scale_x, y * scale_y
        top = int(np.clip(round(y - label_size / 2), 0, max(height - label_size, 0)))
        left = int(np.clip(round(x - label_size / 2), 0, max(width - label_size, 0)))
        value = torch.tensor(color)[:, None, None] * 2 - 1
        rgb[0, :, top : top + label_size, left : left + label_size] = value
        mask[0, :, top : top + label_size, left : left + label_size] = 1
    return Hints(rgb=rgb, mask=mask)


class Stroke(NamedTuple):
    """A parsed stroke label: (x, y) points and brush width in source pixels, RGB in [0, 1]."""

    points: list[tuple[float, float]]
    width: float
    color: tuple[float, float, float]


def _paint_stroke(stroke: Stroke, scale: tuple[float, float], size: tuple[int, int]):
    """One stroke scaled to `size` -> (1, 3, H, W) rgb and (1, 1, H, W) mask; at least 1 px
    wide after scaling, so a thin stroke on a large sketch does not vanish.

    Points are scaled as positions on the image, not as pixel indices: an odd-width stroke's
    centre line runs through pixel centres, half a pixel on from an even one's (see
    data/controls/strokes.py), so that half pixel is added before scaling and taken off after.
    """
    scale_y, scale_x = scale
    width = max(1.0, stroke.width * math.sqrt(scale_x * scale_y))
    before, after = (0.5 if round(w) % 2 else 0.0 for w in (stroke.width, width))
    vertices = torch.tensor([[[(y + before) * scale_y - after, (x + before) * scale_x - after]
                              for x, y in stroke.points]])  # fmt: skip
    color = torch.tensor([stroke.color]) * 2 - 1
    return paint_strokes(vertices, torch.zeros(1, dtype=torch.long), color,
                         torch.tensor([width]), (1, *size))  # fmt: skip


def _labels_and_frame(data, source_size: tuple[int, int]) -> tuple[list, tuple[int, int]]:
    """The label list and the (H, W) its coordinates are in, from either JSON form."""
    if isinstance(data, dict):
        if "width" in data or "height" in data:
            width, height = _finite(data, "width", "hints"), _finite(data, "height", "hints")
            if width < 1 or height < 1:
                raise SketchcolorError(
                    f"hints: width and height must be positive, got {width}x{height}"
                )
            source_size = (round(height), round(width))
        data = data.get("labels", [])
    if not isinstance(data, list):
        raise SketchcolorError(LABELS_EXPECTED)
    return data, source_size


def _parse_label(number: int, label, source_size: tuple[int, int]) -> tuple | Stroke:
    """One dot {"x", "y", "color"} -> (x, y, rgb in [0, 1]), or one stroke {"points",
    "width", "color"} -> Stroke; every point must lie inside the image."""
    where = f"hint {number}"
    if not isinstance(label, dict):
        raise SketchcolorError(
            f'{where}: expected a dot {{"x", "y", "color"}} or a stroke {{"points", "width", '
            f'"color"}}, got {label!r}'
        )
    if "points" in label:
        return _parse_stroke(label, where, source_size)
    x, y = _finite(label, "x", where), _finite(label, "y", where)
    _check_color_given(label, where)
    _check_inside(x, y, where, source_size)
    return x, y, _parse_color(label["color"], where)


def _parse_stroke(label: dict, where: str, source_size: tuple[int, int]) -> Stroke:
    """{"points": [[x, y], ...], "width", "color"} -> Stroke; 1 <= width <= the longer side."""
    if "x" in label or "y" in label:
        raise SketchcolorError(f'{where}: a stroke has "points", a dot "x" and "y", not both')
    points = _parse_points(label["points"], where, source_size)
    stroke_width = _finite(label, "width", where)
    longest = max(source_size)
    if not 1 <= stroke_width <= longest:
        raise SketchcolorError(
            f"{where}: stroke width {stroke_width:g} must be 1 to {longest} px (the image's "
            "longer side)"
        )
    _check_color_given(label, where)
    return Stroke(points, stroke_width, _parse_color(label["color"], where))


def _check_color_given(label: dict, where: str) -> None:
    if "color" not in label or not isinstance(label["color"], str):
        raise SketchcolorError(f'{where}: needs a "color" like "#ff8800"')


def _parse_points(points, where: str, source_size: tuple[int, int]) -> list[tuple[float, float]]:
    """A stroke's [[x, y], ...] (at least one point, each inside the image)."""
    if not isinstance(points, list) or not points:
        raise SketchcolorError(f'{where}: "points" must be a list of at least one [x, y]')
    parsed = []
    for index, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise SketchcolorError(f"{where}: point {index} must be [x, y], got {point!r}")
        pair = dict(zip("xy", point, strict=True))
        x, y = (_finite(pair, axis, f"{where} point {index}") for axis in "xy")
        _check_inside(x, y, f"{where} point {index}", source_size)
        parsed.append((x, y))
    return parsed


def _check_inside(x: float, y: float, where: str, source_size: tuple[int, int]) -> None:
    height, width = source_size
    if not (0 <= x < width and 0 <= y < height):
        raise SketchcolorError(f"{where}: ({x:g}, {y:g}) is outside the {width}x{height} image")


def _parse_color(text: str, where: str) -> tuple[float, float, float]:
    try:
        return parse_hex_color(text)
    except SketchcolorError as error:
        raise SketchcolorError(f"{where}: {error}") from error


def _finite(record: dict, field: str, where: str) -> float:
    """record[field] as a finite float, else a one-line error naming the field."""
    if field not in record:
        raise SketchcolorError(f'{where}: needs "{field}"')
    value = record[field]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise SketchcolorError(f'{where}: "{field}" must be a finite number, got {value!r}')
    return number


def _read_json(path: Path):
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SketchcolorError(f"{path}: cannot read hints JSON ({error})") from error
    return parse_hints_text(text, origin=str(path))


def parse_hints_text(text: str, *, origin: str = "hints") -> list | dict:
    """A hints JSON string -> its parsed list or object; a one-line error naming `origin`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SketchcolorError(f"{origin}: cannot read hints JSON ({error})") from error


def load_hints(
    path: Path,
    size: tuple[int, int],
    *,
    label_size: int = 10,
    source_size: tuple[int, int] | None = None,
) -> Hints:
    """A hints PNG or JSON file -> Hints at `size` (H, W); chosen by the file's suffix."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return hints_from_json(path, size, label_size=label_size, source_size=source_size)
    return hints_from_png(path, size)


def hints_to_rgba(hints: Hints, index: int = 0) -> np.ndarray:
    """One sample's labels as uint8 (H, W, 4): label colours, transparent elsewhere."""
    rgb = tensor_to_image(hints.rgb[index])
    alpha = (hints.mask[index, 0] > 0).byte().cpu().numpy() * 255
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def reference_hints(
    image: np.ndarray, hint_config: HintConfig, *, count: int | None = None, seed: int = 0
) -> tuple[Hints, int]:
    """The labels training would sample for a uint8 (H, W, 3) colour image, and their number.

    count: exactly this many labels (at most one per node); None draws it as training does.
    """
    color = image_to_tensor(image)
    generator = torch.Generator().manual_seed(seed)
    # Drawing the count here first is what sample_hints does itself, so the labels match
    # training's for the same seed, and the count is known even where labels overlap.
    if count is None:
        counts = sample_label_counts(1, hint_config, generator)
    else:
        counts = torch.tensor([count])
    counts = counts.clamp(0, hint_config.grid**2)
    return sample_hints(color, hint_config, generator, counts=counts), int(counts.item())


def write_reference_hints(
    reference: Path,
    out: Path,
    hint_config: HintConfig,
    *,
    count: int | None = None,
    seed: int = 0,
    size: int | None = None,
    scale_label_size: bool = False,
) -> int:
    """Write the hint labels of `reference` as an RGBA PNG; return the number of labels.

    size: resize the reference to size x size first (the training size), else keep its own.
    scale_label_size: replace `hint_config.label_size` by the paper's 10 px at 512 scaled to
    the labelled image (its shorter side), as `HintConfig.for_size` does for training.
    """
    from PIL import Image

    image = load_rgb(Path(reference))
    if size is not None:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    if scale_label_size:
        label_size = scaled_label_size(min(image.shape[:2]))
        hint_config = dataclasses.replace(hint_config, label_size=label_size)
    hints, labels = reference_hints(image, hint_config, count=count, seed=seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(hints_to_rgba(hints), mode="RGBA").save(out)
    return labels


def write_hints_png(config: HintsCommandConfig) -> int:
    """`sketchcolor hints`: `write_reference_hints` with a HintsCommandConfig's options (no
    --label-size: the paper's 10 px at 512 scaled to the image); the number of labels."""
    scale_label_size = config.label_size is None
    hint_config = HintConfig(
        grid=config.grid, **({} if scale_label_size else {"label_size": config.label_size})
    )
    return write_reference_hints(config.reference, config.out, hint_config, count=config.count,
                                 seed=config.seed, size=config.size,
                                 scale_label_size=scale_label_size)  # fmt: skip
