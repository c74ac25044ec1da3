"""Named palettes as small JSON files, and palettes typed as hex text.

A palette file is `{"name": "autumn", "colors": ["#rrggbb", ... up to 9]}`: the 9 swatches of
the web app, or `sketchcolor colorize --palette-file FILE.json`. Fewer than 9 colours repeat in
order to fill the 9 slots, as `--palette` does. Every problem is a one-line error naming the
file, and a palette is written whole or not at all.

Usage:
    save_palette(Path("autumn.json"), Palette("autumn", parse_colors("#aa3300, #ffcc00")))
    colors = load_palette(Path("autumn.json")).colors
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sketchcolor.config import PALETTE_SIZE
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import create_output_folder, write_text_atomically

HEX = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass
class Palette:
    """A named list of 1 to 9 '#rrggbb' colours, most important first."""

    name: str
    colors: list[str]


def hex_color(text: str) -> str:
    """'#FF8800' or 'ff8800' -> '#ff8800'; anything else is a one-line error."""
    match = HEX.fullmatch(str(text).strip())
    if not match:
        raise SketchcolorError(f"{text!r} is not a colour like #ff8800")
    return "#" + match.group(1).lower()


def check_colors(colors: list) -> list[str]:
    """1 to 9 hex colours -> '#rrggbb' strings; one-line errors."""
    if not 1 <= len(colors) <= PALETTE_SIZE:
        raise SketchcolorError(f"a palette takes 1 to {PALETTE_SIZE} colours, got {len(colors)}")
    return [hex_color(color) for color in colors]


def parse_colors(text: str) -> list[str]:
    """Typed colours, separated by commas, spaces or new lines -> '#rrggbb' strings."""
    return check_colors([word for word in re.split(r"[\s,;]+", text or "") if word])


def fill_swatches(colors: list[str]) -> list[str]:
    """1 to 9 colours -> exactly 9, repeated in order (how the model reads a short palette)."""
    return [colors[index % len(colors)] for index in range(PALETTE_SIZE)]


def colors_to_text(colors: list[str]) -> str:
    """Colours -> the one-line text the web app shows: '#aa3300, #ffcc00, ...'."""
    return ", ".join(colors)


def load_palette(path: Path) -> Palette:
    """A palette JSON file -> Palette (the name defaults to the file's stem)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SketchcolorError(f"{path}: no such palette file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SketchcolorError(f"{path}: cannot read palette JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("colors"), list):
        raise SketchcolorError(f'{path}: expected {{"name": ..., "colors": ["#rrggbb", ...]}}')
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise SketchcolorError(f'{path}: "name" must be text, got {name!r}')
    try:
        return Palette(name=name, colors=check_colors(data["colors"]))
    except SketchcolorError as error:
        raise SketchcolorError(f"{path}: {error}") from None


def save_palette(path: Path, palette: Palette) -> Path:
    """Write a palette JSON file (checked first; whole or not at all); returns its path."""
    path = Path(path)
    document = {"name": str(palette.name), "colors": check_colors(list(palette.colors))}
    create_output_folder(path.parent, what="palette folder")
    try:
        write_text_atomically(path, json.dumps(document, indent=1) + "\n")
    except OSError as error:
        raise SketchcolorError(f"{path}: cannot write ({error.strerror or error})") from error
    return path


def file_name(name: str) -> str:
    """A palette's name as a safe file name: 'My autumn!' -> 'My-autumn.json'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.") or "palette"
    return f"{stem}.json"
