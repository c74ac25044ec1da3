"""Hint labels and colours as the web app edits them: JSON text, overlays, reference samples.

Labels are the `--hints-json` list of dots `{"x": .., "y": .., "color": "#rrggbb"}` and strokes
`{"points": [[x, y], ..], "width": .., "color": ..}` in the sketch's own pixels, so what the
page shows, what the API takes and what `sketchcolor colorize --hints-json` reads are one
format.

Usage: overlay = hint_overlay(sketch, parse_labels('[{"x": 5, "y": 9, "color": "#ff0000"}]'), 10)
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.util.images import tensor_to_image, to_uint8

CSS_RGB = re.compile(r"^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")


def normalise_color(text: str) -> str:
    """A colour picker's value ('#rgb', '#rrggbb', 'rgb(r, g, b)', 'rgba(...)') -> '#rrggbb'."""
    text = (text or "").strip().lower()
    match = CSS_RGB.match(text)
    if match:
        return "#" + "".join(f"{min(255, round(float(v))):02x}" for v in match.groups())
    if re.fullmatch(r"#?[0-9a-f]{3}", text):
        return "#" + "".join(2 * c for c in text.lstrip("#"))
    if re.fullmatch(r"#?[0-9a-f]{6}", text):
        return "#" + text.lstrip("#")
    raise SketchcolorError(f"{text!r} is not a colour like #ff8800")


def hex_palette(colors: list[str]) -> list[str]:
    """Colour picker values -> '#rrggbb' strings."""
    return [normalise_color(color) for color in colors]


def parse_labels(text: str) -> list[dict]:
    """Hints JSON text ("" for none) -> its label list; one-line errors."""
    from sketchcolor.data.controls.user_controls import LABELS_EXPECTED, parse_hints_text

    if not (text or "").strip():
        return []
    data = parse_hints_text(text)
    labels = data.get("labels", []) if isinstance(data, dict) else data
    if not isinstance(labels, list):
        raise SketchcolorError(LABELS_EXPECTED)
    return labels


def labels_to_text(labels: list[dict]) -> str:
    """Labels -> the JSON text the page shows (one label a line, so edits are easy)."""
    if not labels:
        return ""
    return "[\n" + ",\n".join(json.dumps(label) for label in labels) + "\n]"


def shown_label_size(colorizer, size: tuple[int, int]) -> int:
    """The run's label size in the sketch's own pixels (the generator sees it scaled)."""
    placement = colorizer.place(tuple(size))
    scale = max(placement.original) / max(placement.scaled)
    return max(1, round(colorizer.hint_config.label_size * scale))


def hint_overlay(sketch: torch.Tensor, labels: list[dict], label_size: int) -> np.ndarray:
    """(1, 3, H, W) sketch in [-1, 1] with the labels (dots and strokes) painted on -> uint8
    (H, W, 3)."""
    from sketchcolor.data.controls.user_controls import hints_from_json

    height, width = sketch.shape[-2:]
    hints = hints_from_json(labels, (height, width), label_size=label_size)
    painted = torch.where(hints.mask > 0, hints.rgb, sketch)
    return tensor_to_image(painted)


def labels_from_reference(
    reference: Path, hint_config, size: tuple[int, int], label_size: int, count: int
) -> list[dict]:
    """The labels `sketchcolor hints` would sample from a reference image, as JSON labels on
    a (height, width) sketch: the reference is scaled to the sketch first."""
    from PIL import Image
    from scipy import ndimage

    from sketchcolor.data.controls.user_controls import load_rgb, reference_hints

    height, width = size
    image = load_rgb(Path(reference))
    image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))
    config = dataclasses.replace(hint_config, label_size=label_size)
    hints, _ = reference_hints(image, config, count=count, seed=0)
    # Labels sit on a grid wider than a label, so each one is its own connected square.
    regions, _ = ndimage.label(hints.mask[0, 0].numpy() > 0)
    labels = []
    for found in ndimage.find_objects(regions):
        y = (found[0].start + found[0].stop - 1) // 2
        x = (found[1].start + found[1].stop - 1) // 2
        labels.append({"x": x, "y": y, "color": rgb_hex(hints.rgb[0, :, y, x])})
    return labels


def rgb_hex(color: torch.Tensor) -> str:
    """(3,) in [-1, 1] -> '#rrggbb'."""
    values = to_uint8(color.reshape(1, 3, 1, 1))[0, 0, 0].tolist()
    return "#" + "".join(f"{value:02x}" for value in values)
