"""Layered files an artist opens in Krita, GIMP or Photoshop: a coloured sketch as PSD or
OpenRaster layers, from top to bottom the hints (hidden), the line art (multiply), the flat
colours and the network's shaded output.

The visible layers composite to the `--flatten` picture: flattening draws the lines by
multiplying the sketch over the flat colours (data/regions.py draw_lines), and a line layer
of alpha a and colour c multiplies what lies below by 1 - a (1 - c), which `line_layer` makes
equal to the sketch. PSD goes through psd-tools (the `layers` extra); OpenRaster, a zip of
PNGs and stack.xml, is written here with zipfile, because its one Python library (pyora) has
had no release since 2021 and the format is a page of spec.

Usage: write_layers("out.psd", layers)   # layers: colorize.colorize_layers(...)
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import atomic_output

LAYER_KINDS = ("psd", "ora")
LAYER_SUFFIXES = tuple(f".{kind}" for kind in LAYER_KINDS)
PSD_INSTALL = "pip install 'sketchcolor[layers]'"
THUMBNAIL_SIDE = 256
"""OpenRaster's thumbnail fits in 256 x 256 (the spec's limit)."""


@dataclass(frozen=True)
class Layer:
    """One layer of a file: uint8 pixels (H, W, 3) or (H, W, 4) RGBA, how it blends."""

    name: str
    pixels: np.ndarray
    visible: bool = True
    multiply: bool = False
    """Multiply blend (the line art), else normal."""


@dataclass
class Layers:
    """One coloured sketch as layers, each uint8 at the sketch's own size."""

    shaded: np.ndarray
    """(H, W, 3) the network's output, shading and all."""
    flat: np.ndarray
    """(H, W, 3) one colour per line region, without the lines (flattening.flat_colors)."""
    lines: np.ndarray
    """(H, W, 4) the line art: multiplied over the flat colours it gives `picture`."""
    hints: np.ndarray | None
    """(H, W, 4) the user's labels, transparent where none; None when none were given."""
    picture: np.ndarray
    """(H, W, 3) what the visible layers show: the `--flatten` output."""

    def stack(self) -> list[Layer]:
        """The layers from top to bottom, named for what they are."""
        stack = [] if self.hints is None else [Layer("hints", self.hints, visible=False)]
        return [*stack, Layer("line art", self.lines, multiply=True),
                Layer("flat colours", self.flat), Layer("shaded (network output)", self.shaded)]  # fmt: skip


def line_layer(sketch: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sketch -> (H, W, 4) uint8 RGBA whose multiply blend over colours f
    gives f * sketch / 255, what draw_lines draws.

    In [0, 1], the blend gives f (1 - a (1 - c)); for sketch s that is f s when a = 1 - min(s)
    and c = 1 - (1 - s) / a: black lines whose alpha is their darkness for a grey sketch (an
    antialiased edge stays soft), the line's own tint for a coloured one.
    """
    values = sketch.astype(np.float64)
    alpha = 255 - values.min(axis=2)  # (H, W): how dark the darkest channel is
    color = 255 - 255 * (255 - values) / np.maximum(alpha, 1)[..., None]
    color[alpha == 0] = 0  # clear pixels black too, should a tool show their colour
    rgba = np.concatenate([color, alpha[..., None]], axis=2)
    return np.clip(np.round(rgba), 0, 255).astype(np.uint8)


def hints_layer(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool label mask + (H, W, 3) uint8 colours -> (H, W, 4) RGBA, clear off labels."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[mask, :3] = rgb[mask]
    rgba[mask, 3] = 255
    return rgba


# ----------------------------------------------------------------------------- files


def check_layers_suffix(path: Path) -> None:
    """A one-line error unless `path` is FILE.psd (psd-tools installed) or FILE.ora."""
    suffix = path.suffix.lower()
    if suffix not in LAYER_SUFFIXES:
        raise SketchcolorError(
            f"{path}: a layered file is FILE.psd or FILE.ora, not {suffix or 'no suffix'!r}"
        )
    if suffix == ".psd":
        require_psd_tools()


def default_layer_kind() -> str:
    """ "psd" where psd-tools is installed, else "ora" (which needs nothing more)."""
    return "psd" if importlib.util.find_spec("psd_tools") else "ora"


def require_psd_tools() -> None:
    try:
        import psd_tools  # noqa: F401
    except ImportError as error:
        raise SketchcolorError(f"writing PSD needs psd-tools: {PSD_INSTALL}") from error


def write_layers(path: str | Path, layers: Layers) -> Path:
    """Write `layers` as PSD or OpenRaster, by the path's suffix, whole or not at all."""
    path = Path(path)
    check_layers_suffix(path)
    if not path.parent.is_dir():
        raise SketchcolorError(f"{path}: no folder {path.parent} to write it in")
    writer = write_psd if path.suffix.lower() == ".psd" else write_ora
    try:
        with atomic_output(path) as temporary:
            writer(temporary, layers.stack(), layers.picture)
    except OSError as error:  # disk full, permissions: no partial file left behind
        raise SketchcolorError(f"{path}: cannot write ({error.strerror or error})") from error
    return path


def write_psd(path: Path, stack: list[Layer], picture: np.ndarray) -> None:
    """Layers (top to bottom) -> an 8-bit RGB PSD; psd-tools composites the merged image that
    viewers show from the layers when it saves (`picture` is what it should come to)."""
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode

    height, width = picture.shape[:2]
    document = PSDImage.new("RGB", (width, height), color=255)
    for layer in reversed(stack):  # psd-tools adds each new layer on top
        blend = BlendMode.MULTIPLY if layer.multiply else BlendMode.NORMAL
        # From an array, an alpha channel is the layer's transparency (from a PIL RGBA image
        # on an RGB document it would become a layer mask instead).
        added = document.create_pixel_layer_from_array(layer.pixels, name=layer.name,
                                                       blend_mode=blend)  # fmt: skip
        added.visible = layer.visible
    document.save(path)


def write_ora(path: Path, stack: list[Layer], picture: np.ndarray) -> None:
    """Layers (top to bottom) -> OpenRaster 0.0.5: `mimetype` first and stored (so the file
    type shows at a fixed offset), stack.xml, a PNG per layer, mergedimage.png and a
    thumbnail no larger than 256 x 256."""
    height, width = picture.shape[:2]
    image = ElementTree.Element("image", version="0.0.5", w=str(width), h=str(height))
    root = ElementTree.SubElement(image, "stack")
    files = {}
    for index, layer in enumerate(stack):
        source = f"data/layer{index}.png"
        ElementTree.SubElement(
            root, "layer", name=layer.name, src=source, x="0", y="0", opacity="1.0",
            visibility="visible" if layer.visible else "hidden",
            **{"composite-op": "svg:multiply" if layer.multiply else "svg:src-over"},
        )  # fmt: skip
        files[source] = png_bytes(layer.pixels)
    files["mergedimage.png"] = png_bytes(picture)
    thumbnail = Image.fromarray(picture)
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    files["Thumbnails/thumbnail.png"] = png_bytes(np.asarray(thumbnail))
    xml = ElementTree.tostring(image, encoding="UTF-8", xml_declaration=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        archive.writestr("stack.xml", xml, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in files.items():  # PNGs are compressed already
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 (H, W, 3) or (H, W, 4) -> PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
