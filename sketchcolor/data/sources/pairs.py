"""Pair files: find them in a source folder, split train/val, read and validate each one.

A pair file is one image 2S wide and S high: colour on the left, sketch on the right (the
Kaggle "Anime Sketch Colorization Pair" layout). A source folder either has `data/train` and
`data/val` (or `train` and `val`) or is a flat folder of pairs, which is then split 90/10 by a
hash of each file name, so the split never changes when files are added or removed.

Usage: colour, sketch = read_pair(path)   # uint8 (S, S, 3) each; raises InvalidPair(reason)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from sketchcolor.errors import SketchcolorError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SPLITS = ("train", "val")
VAL_PERCENT = 10
# A colour half whose channels never differ by more than this is a grayscale picture.
GRAYSCALE_TOLERANCE = 3


class InvalidPair(Exception):
    """A pair file that cannot be used; the message is the reason written to the manifest."""


def list_pairs(source: Path) -> dict[str, list[Path]]:
    """Pair files per split, sorted by name: {"train": [...], "val": [...]}."""
    source = Path(source)
    if not source.is_dir():
        raise SketchcolorError(f"{source}: not a folder")
    for root in (source / "data", source):
        if all((root / split).is_dir() for split in SPLITS):
            return {split: _image_files(root / split) for split in SPLITS}
    files = _image_files(source)
    if not files:
        raise SketchcolorError(
            f"{source}: no data/train + data/val folders and no image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    return split_by_hash(files)


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def split_by_hash(files: list[Path]) -> dict[str, list[Path]]:
    """90/10 train/val by the SHA-1 of each file name: stable whatever else is in the folder."""
    splits = {split: [] for split in SPLITS}
    for path in files:
        splits[hash_split(path.name)].append(path)
    return splits


def hash_split(name: str) -> str:
    """ "val" for about VAL_PERCENT % of names, "train" for the rest, the same every time."""
    bucket = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") % 100
    return "val" if bucket < VAL_PERCENT else "train"


def read_pair(path: Path, *, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode, validate and split one pair file into colour and sketch uint8 (S, S, 3) arrays.

    `size` resizes each half to size x size. Raises InvalidPair with the reason.
    """
    image = decode_image(path)
    color, sketch = split_halves(image)
    if is_grayscale(color):
        raise InvalidPair("grayscale pair: the colour half has no colour")
    if size is not None and color.shape[0] != size:
        color, sketch = resize_half(color, size), resize_half(sketch, size)
    return color, sketch


def decode_image(path: Path) -> Image.Image:
    """Open and fully decode an image as RGB, turning every failure into InvalidPair."""
    image = open_image(path)
    if image.mode in ("L", "LA", "I", "I;16", "F", "1"):
        raise InvalidPair(f"grayscale pair: image mode {image.mode}, the colour half has no colour")
    if image.mode not in ("RGB", "RGBA", "P", "PA"):
        raise InvalidPair(f"unsupported image mode {image.mode} (expected RGB)")
    width, height = image.size
    if width != 2 * height:
        raise InvalidPair(f"wrong size {width}x{height}: width must be twice the height")
    return _to_rgb(image)


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image in its own mode, turning every failure into InvalidPair."""
    try:
        with Image.open(path) as opened:
            opened.load()  # decodes all pixel data: a truncated file fails here
            image = opened
    except Image.DecompressionBombError as error:
        raise InvalidPair(f"image too large: {error}") from None
    except OSError as error:
        text = str(error)
        if "cannot identify image file" in text:
            raise InvalidPair("not an image (cannot identify the file format)") from None
        if "truncated" in text.lower() or "broken" in text.lower():
            raise InvalidPair(f"truncated or corrupt image ({text})") from None
        raise InvalidPair(f"cannot decode ({text})") from None
    except (ValueError, SyntaxError) as error:  # PIL raises these for malformed headers
        raise InvalidPair(f"corrupt image ({error})") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited on white (the sketch's paper colour)."""
    if image.mode in ("RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return composite_on_white(image)
    return image.convert("RGB")


def composite_on_white(image: Image.Image) -> Image.Image:
    """An image with transparency as RGB over a white ground (paper under the drawing)."""
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def split_halves(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Left half (colour) and right half (sketch) as uint8 (S, S, 3) arrays."""
    pixels = np.asarray(image)  # (S, 2S, 3)
    half = pixels.shape[1] // 2
    return pixels[:, :half], pixels[:, half:]


def is_grayscale(color: np.ndarray) -> bool:
    """True when every pixel has (nearly) equal R, G and B."""
    spread = color.max(axis=2).astype(np.int16) - color.min(axis=2)
    return int(spread.max()) <= GRAYSCALE_TOLERANCE


def resize_half(half: np.ndarray, size: int) -> np.ndarray:
    """Resize one uint8 (S, S, 3) half to (size, size, 3) with a Lanczos filter."""
    resized = Image.fromarray(half).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def join_halves(color: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """The pair image again: uint8 (S, 2S, 3), colour left, sketch right."""
    return np.concatenate([color, sketch], axis=1)
