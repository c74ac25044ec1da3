"""Colour controls from user input, for inference: palettes and hint labels as the model expects.

A palette comes from hex colours or from a reference image (k-means, as the shards were made);
hint labels come from a PNG (labels on a transparent or white background) or from JSON
(`[{"x": 120, "y": 64, "color": "#ff8800"}, ...]`, label centres in pixels). The results are the
same tensors training uses: palette (1, 9, 3) and `Hints` (1, ...) in [-1, 1].

Usage:
    palette = palette_from_hex(["#203040", "#ffcc00"])
    hints = load_hints("hints.png", size=(512, 512))
    write_reference_hints(Path("ref.png"), Path("hints.png"), HintConfig(), count=20, seed=0)
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import torch

from sketchcolor.config import PALETTE_SIZE, HintConfig, scaled_label_size
from sketchcolor.data.conditioning import Hints, sample_hints, sample_label_counts
from sketchcolor.errors import SketchcolorError

HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")
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
    from sketchcolor.data.palette import extract_palette

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
    rgb = torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    mask = torch.from_numpy(inside)[None, None].float()  # (1, 1, H, W)
    return _resize_hints(rgb, mask, size or tuple(rgb.shape[-2:]))


def hints_from_json(
    source: Path | list,
    size: tuple[int, int],
    *,
    label_size: int = 10,
    source_size: tuple[int, int] | None = None,
) -> Hints:
    """Label centres and colours -> Hints at `size` (H, W).

    The JSON is a list of {"x", "y", "color"} (pixels, "#rrggbb"), or an object
    {"width", "height", "labels": [...]} whose coordinates are in a width x height image;
    `source_size` (H, W) says the same from the caller. Coordinates are scaled to `size`.
    """
    data = source if isinstance(source, list | dict) else _read_json(Path(source))
    if isinstance(data, dict):
        source_size = (int(data["height"]), int(data["width"])) if "width" in data else source_size
        data = data.get("labels", [])
    height, width = size
    scale_y, scale_x = (height / source_size[0], width / source_size[1]) if source_size else (1, 1)
    rgb = torch.ones(1, 3, height, width)
    mask = torch.zeros(1, 1, height, width)
    for number, label in enumerate(data):
        try:
            x, y, color = float(label["x"]) * scale_x, float(label["y"]) * scale_y, label["color"]
        except (KeyError, TypeError, ValueError) as error:
            raise SketchcolorError(f"hint {number}: needs x, y and color ({error})") from error
        top = int(np.clip(round(y - label_size / 2), 0, max(height - label_size, 0)))
        left = int(np.clip(round(x - label_size / 2), 0, max(width - label_size, 0)))
        value = torch.tensor(parse_hex_color(color))[:, None, None] * 2 - 1
        rgb[0, :, top : top + label_size, left : left + label_size] = value
        mask[0, :, top : top + label_size, left : left + label_size] = 1
    return Hints(rgb=rgb, mask=mask)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SketchcolorError(f"{path}: cannot read hints JSON ({error})") from error


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
    rgb = ((hints.rgb[index].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0)
    alpha = (hints.mask[index, 0] > 0).byte() * 255
    return torch.cat([rgb, alpha[..., None]], dim=-1).cpu().numpy()


def reference_hints(
    image: np.ndarray, hint_config: HintConfig, *, count: int | None = None, seed: int = 0
) -> tuple[Hints, int]:
    """The labels training would sample for a uint8 (H, W, 3) colour image, and their number.

    count: exactly this many labels (at most one per node); None draws it as training does.
    """
    color = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
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
