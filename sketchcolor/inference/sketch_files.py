"""The files of a colorize call: which sketches a path names, where their outputs (and layered
files) go, reading a sketch (grayscale, RGB, 16-bit or transparent; too many pixels refused
from the header) and writing an output whole (a temporary name, then renamed).

Usage: paths = list_sketches("sketches/"); targets = output_paths(paths, Path("out"))
       sketch = read_sketch(paths[0]); write_png(colours, targets[0])
"""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from sketchcolor.config import MAX_SKETCH_PIXELS
from sketchcolor.data.sources.pairs import composite_on_white
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.layers import LAYER_SUFFIXES, check_layers_suffix
from sketchcolor.util.files import atomic_output, create_output_folder
from sketchcolor.util.images import image_to_tensor, tensor_to_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# Pillow opens 16-bit grayscale PNGs (common from scanners) in these modes; its own conversion
# to RGB clips at 255 instead of scaling, which would turn every mid-grey line white.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


# ----------------------------------------------------------------------------- paths


def natural_order(path: Path) -> tuple:
    """Sort key of a file name with its numbers compared as numbers: frame-2 before frame-10
    (then by the name itself: a01 before a1)."""
    parts = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]
    return parts, path.name  # the stem's: "tiny" before "tiny2", as by name


def list_sketches(sketches: str | Path | list[str | Path]) -> list[Path]:
    """A file, a folder (its images, in natural order) or a list of files -> sketch paths."""
    items = [sketches] if isinstance(sketches, str | Path) else list(sketches)
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted((p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                           key=natural_order)  # fmt: skip
            if not found:
                raise SketchcolorError(f"{item}: no sketch images ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(found)
        elif item.is_file():
            paths.append(item)
        else:
            raise SketchcolorError(f"{item}: no such sketch file or folder")
    if not paths:
        raise SketchcolorError("no sketches given")
    return paths


def output_paths(sketches: list[Path], out: Path) -> list[Path]:
    """OUT.png for one sketch; OUT/<stem>.png for several (or when OUT is a folder)."""
    if out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        if len(sketches) > 1:
            raise SketchcolorError(f"{out}: {len(sketches)} sketches need an output folder")
        refuse_overwriting_sketches(sketches, [out])
        return [out]
    stems = [path.stem for path in sketches]
    if len(set(stems)) != len(stems):
        raise SketchcolorError("two sketches share a file name; their outputs would collide")
    targets = [out / f"{stem}.png" for stem in stems]
    refuse_overwriting_sketches(sketches, targets)
    return targets


def refuse_overwriting_sketches(sketches: list[Path], targets: list[Path]) -> None:
    """An output that is one of the sketches (e.g. `-o` the sketch folder itself) is refused."""
    inputs = {path.resolve() for path in sketches}
    for target in targets:
        if target.resolve() in inputs:
            raise SketchcolorError(
                f"{target}: is one of the sketches; writing there would replace it, "
                "choose another output"
            )


def layer_paths(targets: list[Path], layers: str | Path | None) -> list[Path | None]:
    """The layered file beside each output: `psd` or `ora` names OUT/<stem>.psd beside each
    PNG; FILE.psd or FILE.ora names the one file for one sketch. Its folder must exist or be
    an output folder. One-line errors."""
    if layers is None:
        return [None] * len(targets)
    word = str(layers).lower().lstrip(".")
    if f".{word}" in LAYER_SUFFIXES:
        paths = [target.with_suffix(f".{word}") for target in targets]
    elif len(targets) > 1:
        raise SketchcolorError(
            f"--layers {layers}: {len(targets)} sketches need --layers psd or --layers ora "
            "(a layered file beside each output PNG)"
        )
    else:
        paths = [Path(layers)]
    outputs = {target.parent for target in targets}
    for path in paths:
        check_layers_suffix(path)
        if not path.parent.is_dir() and path.parent not in outputs:
            raise SketchcolorError(f"{path}: no folder {path.parent} to write it in")
    return paths


# ----------------------------------------------------------------------------- reading


def probe_sketch(path: Path, max_pixels: int = MAX_SKETCH_PIXELS) -> tuple[int, int]:
    """(height, width) of a sketch after decoding it fully, so a broken file fails early."""
    return tuple(read_sketch(path, max_pixels).shape[-2:])


def read_sketch(path: Path, max_pixels: int = MAX_SKETCH_PIXELS) -> torch.Tensor:
    """A grayscale or colour image file -> (1, 3, H, W) in [-1, 1] (transparency on white).

    An image of more than max_pixels pixels is refused from its header, before decoding.
    """
    try:
        with pixel_limit(max_pixels), Image.open(path) as image:
            refuse_too_many_pixels(path, image.size, max_pixels)
            image.load()
            if image.mode in SIXTEEN_BIT_MODES:
                image = sixteen_to_eight_bits(image)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = composite_on_white(image)
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
    except Image.DecompressionBombError as error:  # Pillow's own limit, above any sane one
        raise SketchcolorError(f"{path}: too many pixels to open ({error})") from error
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise SketchcolorError(f"{path}: cannot read sketch ({error})") from error
    return image_to_tensor(pixels)


@contextlib.contextmanager
def pixel_limit(max_pixels: int):
    """Pillow's own decompression-bomb limit (a warning, then an error at twice it) moved
    above `max_pixels`, so the check in `read_sketch` is the one the user meets and a raised
    --max-pixels really works."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(max_pixels, saved or 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def refuse_too_many_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """A one-line error for a (width, height) over the pixel limit, naming the flag that lifts it."""
    width, height = size
    if width * height > max_pixels:
        raise SketchcolorError(
            f"{path}: {width}x{height} is {width * height / 1e6:.1f} MP, over the limit of "
            f"{max_pixels} pixels (raise it with --max-pixels)"
        )


def sixteen_to_eight_bits(image: Image.Image) -> Image.Image:
    """A 16-bit grayscale image as 8-bit "L", 0..65535 scaled to 0..255.

    Mode "I" (32-bit) holds 16-bit PNGs in older Pillows but also plain 0..255 images, so it
    is scaled only when its values go past 255.
    """
    values = np.asarray(image, dtype=np.float64)  # (H, W)
    if image.mode != "I" or values.max(initial=0) > 255:
        values = values / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")


# ----------------------------------------------------------------------------- writing


def write_png(image: torch.Tensor, path: Path) -> None:
    """(1, 3, H, W) in [-1, 1] -> an image file in the format its suffix names (PNG for a
    folder's outputs), written to a temporary name and renamed into place."""
    pixels = tensor_to_image(image)
    create_output_folder(path.parent)
    # The temporary name keeps the suffix, so Pillow picks the format the user asked for.
    image = Image.fromarray(pixels)
    try:
        with atomic_output(path) as temporary:
            image.save(temporary, format=None if path.suffix else "PNG")
    except OSError as error:  # disk full, permissions: no partial file left behind
        raise SketchcolorError(f"{path}: cannot write ({error.strerror or error})") from error
