"""Colorize sketches with a trained run: any size, grayscale or RGB, one file or a whole folder.

A sketch is scaled so its longer side is the run's training size (the scale its strokes were
learnt at), padded with white to a size the generator accepts, coloured, then cropped and
scaled back to its own size. Palette and hint labels come from the user (hex colours, a
reference image, a hints PNG or JSON drawn on the sketch's own pixel grid) and must match the
colour control the run was trained with. Every output is written to a temporary name and
renamed, so an interrupted call leaves only whole files.

Usage: colorize(["sketch.png"], "runs/m21-hints", "out.png", hints_png="hints.png")
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from sketchcolor.config import MAX_SKETCH_PIXELS
from sketchcolor.data.sources.pairs import composite_on_white
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.layers import (
    LAYER_SUFFIXES,
    Layers,
    check_layers_suffix,
    hints_layer,
    line_layer,
    write_layers,
)
from sketchcolor.util.devices import choose_device
from sketchcolor.util.files import atomic_output, create_output_folder
from sketchcolor.util.images import image_to_tensor, tensor_to_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(kw_only=True)
class UserControls:
    """The colour control a user gave, before it is fitted to each sketch."""

    palette: torch.Tensor | None = None
    """(1, 9, 3) in [-1, 1], from hex colours or a reference image."""

    hints_path: Path | None = None
    """A hints PNG or JSON, in the sketch's own pixel coordinates."""

    hints_labels: list | dict | None = None
    """Parsed hints JSON (the `--hints-json` format) given as text rather than a file; with
    a hints PNG too (the web app's brush strokes and dots), the labels go over the PNG's."""

    @property
    def has_hints(self) -> bool:
        return self.hints_path is not None or self.hints_labels is not None


@dataclass
class Placement:
    """How one sketch sits in the generator's canvas: scaled to (height, width), then padded."""

    original: tuple[int, int]
    scaled: tuple[int, int]
    canvas: tuple[int, int]


# ----------------------------------------------------------------------------- inputs


def list_sketches(sketches: str | Path | list[str | Path]) -> list[Path]:
    """A file, a folder (its images, sorted) or a list of files -> sketch paths."""
    items = [sketches] if isinstance(sketches, str | Path) else list(sketches)
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
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


# Pillow opens 16-bit grayscale PNGs (common from scanners) in these modes; its own conversion
# to RGB clips at 255 instead of scaling, which would turn every mid-grey line white.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


def sixteen_to_eight_bits(image: Image.Image) -> Image.Image:
    """A 16-bit grayscale image as 8-bit "L", 0..65535 scaled to 0..255.

    Mode "I" (32-bit) holds 16-bit PNGs in older Pillows but also plain 0..255 images, so it
    is scaled only when its values go past 255.
    """
    values = np.asarray(image, dtype=np.float64)  # (H, W)
    if image.mode != "I" or values.max(initial=0) > 255:
        values = values / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")


def user_controls(
    color_control: str,
    run_dir: Path,
    *,
    palette: list[str] | str | None,
    palette_from: str | Path | None,
    hints_png: str | Path | None,
    hints_json: str | Path | None,
    hints_text: str | None = None,
) -> UserControls:
    """Check the given controls against the run's colour control and load the palette.

    hints_text: hints JSON as a string ("" or None for none), as the web app's API takes it;
    it may come with a hints PNG (painted strokes), its labels drawn over the PNG's.
    """
    from sketchcolor.data.controls import user_controls as controls
    from sketchcolor.data.controls.conditioning import uses_hints, uses_palette

    if palette and palette_from:
        raise SketchcolorError("give either a palette or --palette-from, not both")
    if sum(bool(given) for given in (hints_png, hints_json)) > 1 or (hints_json and hints_text):
        raise SketchcolorError("give either a hints PNG or a hints JSON, not both")
    has_palette = bool(palette or palette_from)
    hints_path = Path(hints_png or hints_json) if (hints_png or hints_json) else None
    labels = controls.parse_hints_text(hints_text) if hints_text else None
    takes_palette = uses_palette(color_control)
    takes_hints = uses_hints(color_control)
    if has_palette and not takes_palette:
        raise SketchcolorError(
            f"{run_dir} was trained with colour control {color_control!r}; it takes no palette"
        )
    if (hints_path or labels is not None) and not takes_hints:
        raise SketchcolorError(
            f"{run_dir} was trained with colour control {color_control!r}; it takes no hints"
        )
    if takes_palette and not has_palette:
        raise SketchcolorError(
            f"{run_dir} was trained with colour control {color_control!r}; give --palette "
            "COLOURS or --palette-from IMAGE"
        )
    if hints_path is not None and not hints_path.is_file():
        raise SketchcolorError(f"{hints_path}: no such hints file")
    tensor = None
    if palette:
        colors = palette.split(",") if isinstance(palette, str) else list(palette)
        tensor = controls.palette_from_hex([color.strip() for color in colors if color.strip()])
    elif palette_from:
        if not Path(palette_from).is_file():
            raise SketchcolorError(f"{palette_from}: no such reference image")
        tensor = controls.palette_from_image(Path(palette_from))
    return UserControls(palette=tensor, hints_path=hints_path, hints_labels=labels)


# ----------------------------------------------------------------------------- geometry


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


def from_canvas(output: torch.Tensor, placement: Placement) -> torch.Tensor:
    """(1, 3, canvas) -> (1, 3, original): the padding cropped, scaled back to the sketch's size."""
    height, width = placement.scaled
    output = output[..., :height, :width]
    if placement.scaled != placement.original:
        output = F.interpolate(output, size=placement.original, mode="bicubic", antialias=True)
    return output.clamp(-1, 1)


def hints_for(controls: UserControls, placement: Placement, label_size: int):
    """The user's hints fitted to one sketch's canvas; no label in the padding."""
    from sketchcolor.data.controls.conditioning import Hints
    from sketchcolor.data.controls.user_controls import hints_from_json, load_hints

    # JSON coordinates are pixels of the original sketch; scale them to the scaled sketch.
    where = dict(label_size=label_size, source_size=placement.original)
    parts = []
    if controls.hints_path is not None:
        parts.append(load_hints(controls.hints_path, placement.scaled, **where))
    if controls.hints_labels is not None:
        parts.append(hints_from_json(controls.hints_labels, placement.scaled, **where))
    hints = parts[0] if len(parts) == 1 else over(parts[1], parts[0])
    rgb = to_canvas(hints.rgb, placement, fill=1.0, mode="nearest")
    mask = to_canvas(hints.mask, placement, fill=0.0, mode="nearest")
    return Hints(rgb=rgb, mask=mask)


def over(top, bottom):
    """Two Hints at one size as one: `top`'s labels where it has them, else `bottom`'s."""
    from sketchcolor.data.controls.conditioning import Hints

    rgb = torch.where(top.mask > 0, top.rgb, bottom.rgb)
    return Hints(rgb=rgb, mask=torch.maximum(top.mask, bottom.mask))


# ----------------------------------------------------------------------------- generation


@dataclass
class Colorizer:
    """A run's engine loaded once (sketchcolor.inference.engines: its PyTorch generator in eval mode on
    its device, or an onnxruntime session), with what the run was trained with."""

    engine: object
    config: dict
    hint_config: object
    device: torch.device

    @property
    def image_size(self) -> int:
        return int(self.config.get("image_size") or 512)

    def place(self, size: tuple[int, int], resize: bool = True) -> Placement:
        """Where a (height, width) sketch sits in this generator's canvas."""
        return place(*size, self.image_size, self.engine.size_multiple, resize)


def load_colorizer(
    run_dir: str | Path,
    device: torch.device | str,
    *,
    engine: str = "torch",
    onnx: str | Path | None = None,
) -> Colorizer:
    """The run's engine ("torch" or "onnxruntime", sketchcolor.inference.engines), its config and hint
    config; one-line errors. onnx: an exported file of the run, for onnxruntime."""
    from sketchcolor.inference.engines import load_engine

    device = torch.device(device)
    return Colorizer(*load_engine(run_dir, engine, device, onnx=onnx), device)


def colorize_batch(
    colorizer: Colorizer,
    sketches: list[torch.Tensor],
    placements: list[Placement],
    controls: UserControls,
    hints_cache: dict | None = None,
    flatten: bool = False,
) -> list[torch.Tensor]:
    """Sketches (each (1, 3, H, W) in [-1, 1]) whose placements share a canvas -> their colours,
    each (1, 3, H, W) on the CPU at its sketch's own size.

    hints_cache: fitted hints by placement, kept by a caller that colours many sketches.
    flatten: one colour per line region (sketchcolor.inference.flattening), the labels' where they sit.
    """
    device = colorizer.device
    canvas = torch.cat(
        [
            to_canvas(sketch, p, fill=1.0, mode="bicubic")
            for sketch, p in zip(sketches, placements, strict=True)
        ]
    )  # (B, 3, canvas height, canvas width)
    hints = None
    if controls.has_hints:
        cache = {} if hints_cache is None else hints_cache
        parts = [colorize_hints_cached(colorizer, controls, p, cache) for p in placements]
        hints = type(parts[0])(
            rgb=torch.cat([h.rgb for h in parts]).to(device),
            mask=torch.cat([h.mask for h in parts]).to(device),
        )
    palette = None
    if controls.palette is not None:
        palette = controls.palette.expand(len(sketches), -1, -1).to(device)
    output = colorizer.engine(canvas.to(device), palette, hints).cpu()  # the generator call
    if not torch.isfinite(output).all():  # NaN would be written as a black picture
        raise SketchcolorError("the generator's output is NaN/inf; nothing written")
    outputs = [from_canvas(output[i : i + 1], p) for i, p in enumerate(placements)]
    if flatten:
        outputs = [flattened(colorizer, out, sketch, p, controls)
                   for out, sketch, p in zip(outputs, sketches, placements, strict=True)]  # fmt: skip
    return outputs


def flattened(colorizer: Colorizer, output: torch.Tensor, sketch: torch.Tensor,
              placement: Placement, controls: UserControls) -> torch.Tensor:  # fmt: skip
    """The output flattened along the sketch at the sketch's own size, with the user's labels."""
    from sketchcolor.inference.flattening import flatten_picture

    return flatten_picture(output, sketch, own_size_hints(colorizer, controls, placement))


def own_size_hints(colorizer: Colorizer, controls: UserControls, placement: Placement):
    """The user's labels at the sketch's own size (no scaling, no padding), or None."""
    if not controls.has_hints:
        return None
    original = Placement(placement.original, placement.original, placement.original)
    return hints_for(controls, original, colorizer.hint_config.label_size)


def colorize_hints_cached(colorizer: Colorizer, controls: UserControls, placement: Placement,
                          cache: dict):  # fmt: skip
    """The user's hints fitted to one placement, computed once per placement."""
    key = (placement.original, placement.scaled, placement.canvas)
    if key not in cache:
        cache[key] = hints_for(controls, placement, colorizer.hint_config.label_size)
    return cache[key]


def colorize_sketch(
    colorizer: Colorizer,
    sketch: torch.Tensor,
    controls: UserControls,
    *,
    resize: bool = True,
    flatten: bool = False,
) -> torch.Tensor:
    """One in-memory sketch (1, 3, H, W) in [-1, 1] -> its colours (1, 3, H, W), on the CPU."""
    placement = colorizer.place(tuple(sketch.shape[-2:]), resize)
    return colorize_batch(colorizer, [sketch], [placement], controls, flatten=flatten)[0]


def colorize_layers(
    colorizer: Colorizer, sketch: torch.Tensor, controls: UserControls, *, resize: bool = True
) -> Layers:
    """One in-memory sketch (1, 3, H, W) in [-1, 1] -> its layers for a layered file
    (sketchcolor.inference.layers.write_layers): shaded output, flat colours, line art, hints; their
    `picture` is what `colorize_sketch(..., flatten=True)` returns, as uint8."""
    placement = colorizer.place(tuple(sketch.shape[-2:]), resize)
    output = colorize_batch(colorizer, [sketch], [placement], controls)[0]
    return sketch_layers(colorizer, output, sketch, placement, controls)


def sketch_layers(colorizer: Colorizer, output: torch.Tensor, sketch: torch.Tensor,
                  placement: Placement, controls: UserControls) -> Layers:  # fmt: skip
    """One sketch's unflattened colours (colorize_batch's) -> its layers, at its own size."""
    from sketchcolor.data.regions import draw_lines
    from sketchcolor.inference.flattening import flat_colors
    from sketchcolor.util.images import to_uint8

    hints = own_size_hints(colorizer, controls, placement)
    sketch_u8 = to_uint8(sketch)[0]
    flat = flat_colors(output, sketch, hints)
    labels = None
    if hints is not None:
        labels = hints_layer(hints.mask[0, 0].cpu().numpy() > 0.5, to_uint8(hints.rgb)[0])
    return Layers(shaded=to_uint8(output)[0], flat=flat, lines=line_layer(sketch_u8),
                  hints=labels, picture=draw_lines(flat, sketch_u8))  # fmt: skip


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


def group_by_canvas(items: list[tuple], batch_size: int) -> list[list[tuple]]:
    """Consecutive batches of items whose canvases are the same size (they stack)."""
    by_canvas: dict[tuple[int, int], list[tuple]] = {}
    for item in items:
        by_canvas.setdefault(item[1].canvas, []).append(item)
    batches = []
    for group in by_canvas.values():
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def colorize(
    sketches: str | Path | list[str | Path],
    run_dir: str | Path,
    out: str | Path,
    *,
    palette: list[str] | str | None = None,
    palette_from: str | Path | None = None,
    hints_png: str | Path | None = None,
    hints_json: str | Path | None = None,
    batch_size: int = 8,
    resize: bool = True,
    max_pixels: int = MAX_SKETCH_PIXELS,
    device: torch.device | str | None = None,
    flatten: bool = False,
    engine: str = "torch",
    onnx: str | Path | None = None,
    layers: str | Path | None = None,
) -> list[Path]:
    """Colour sketches with the run's generator; returns the written PNG paths.

    sketches: a file, a folder or a list of files. out: OUT.png for one sketch, else a folder
    (OUT/<stem>.png). palette: hex colours ("#ff0000,#00ff00" or a list); palette_from: a
    reference image (its 9 k-means colours); hints_png / hints_json: labels on the sketch's
    own pixel grid (one set for every sketch). resize: scale to the training size (else keep
    the sketch's size and only pad). max_pixels: larger sketches are refused. flatten: one
    colour per line region (sketchcolor.inference.flattening). engine: "torch" or "onnxruntime"
    (sketchcolor.inference.engines; onnx: an exported file of the run). layers: also a layered file
    per sketch (sketchcolor.inference.layers; `layer_paths` names them). Everything is checked before
    the first image is coloured.
    """
    from sketchcolor.util.images import from_uint8

    if batch_size < 1:
        raise SketchcolorError(f"batch size must be at least 1, got {batch_size}")
    device = choose_device(device)
    run_dir = Path(run_dir)
    colorizer = load_colorizer(run_dir, device, engine=engine, onnx=onnx)
    config = colorizer.config
    controls = user_controls(
        config["color_control"],
        run_dir,
        palette=palette,
        palette_from=palette_from,
        hints_png=hints_png,
        hints_json=hints_json,
    )
    paths = list_sketches(sketches)
    targets = output_paths(paths, Path(out))
    layered = layer_paths(targets, layers)
    refuse_overwriting_sketches(paths, [path for path in layered if path is not None])
    # Decode every sketch before colouring any, so a bad file fails the call with nothing
    # written; only the sizes are kept, so a large folder does not fill the memory.
    items = []
    hints_cache: dict[tuple, object] = {}
    for path, target, layer_path in zip(paths, targets, layered, strict=True):
        placement = colorizer.place(probe_sketch(path, max_pixels), resize)
        items.append((path, placement, target, layer_path))
        if controls.has_hints:  # fitting the labels checks them against this sketch's size
            colorize_hints_cached(colorizer, controls, placement, hints_cache)
    for folder in dict.fromkeys(target.parent for target in targets):
        create_output_folder(folder)  # an unwritable output fails before any colouring
    bar = tqdm(total=len(items), desc="colorize", unit="img", disable=len(items) == 1)
    for batch in group_by_canvas(items, batch_size):
        sketches = [read_sketch(path, max_pixels) for path, *_ in batch]
        placements = [placement for _, placement, *_ in batch]
        # With layers, the flat colours are computed once, for the layers and the PNG alike.
        outputs = colorize_batch(colorizer, sketches, placements, controls, hints_cache,
                                 flatten and layers is None)  # fmt: skip
        for output, sketch, (_, placement, target, layer_path) in zip(outputs, sketches, batch,
                                                                      strict=True):  # fmt: skip
            if layer_path is None:
                write_png(output, target)
                continue
            layers_of_one = sketch_layers(colorizer, output, sketch, placement, controls)
            write_png(from_uint8(layers_of_one.picture[None]) if flatten else output, target)
            write_layers(layer_path, layers_of_one)
        bar.update(len(batch))
    bar.close()
    return targets
