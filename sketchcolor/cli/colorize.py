"""`sketchcolor colorize`: color sketches with a trained run, optionally steered by colors.

Usage: sketchcolor colorize sketch.png --run runs/m21-hints -o out.png --hints hints.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from tyro.conf import Positional, arg

from sketchcolor.config import MAX_SKETCH_PIXELS

NAME = "colorize"
HELP = "color sketches with a trained run"
DESCRIPTION = (
    "Color one sketch or a folder of sketches with a run's generator. Palette and hints must "
    "match the color control the run was trained with."
)


@dataclass(kw_only=True)
class ColorizeOptions:
    sketches: Positional[tuple[Path, ...]]
    """Sketch images and/or folders."""
    run: Path
    """Run folder (config.json + weights)."""
    out: Annotated[Path, arg(aliases=("-o",))]
    """OUT.png for one sketch, else a folder."""
    palette: str | None = None
    """1 to 9 hex colors, "#ff0000,#00ff00,..." (not with --palette-from)."""
    palette_from: Path | None = None
    """Reference image to take 9 colors from."""
    palette_file: Path | None = None
    """A saved palette, {"name": .., "colors": ["#rrggbb", ...]} (the web app writes these)."""
    hints: Path | None = None
    """Hint labels PNG (transparent or white ground; not with --hints-json)."""
    hints_json: Path | None = None
    """[{"x": .., "y": .., "color": "#rrggbb"}]"""
    batch_size: int = 8
    """Sketches per generator call."""
    keep_size: bool = False
    """Color at the sketch's own size (only pad) instead of the training size."""
    device: str | None = None
    """cuda, cuda:1 or cpu (None: cuda if any)."""
    max_pixels: int = MAX_SKETCH_PIXELS
    """Refuse sketches with more pixels than this (a 10000 x 10000 one needs 4-8 GB)."""
    flatten: bool = False
    """One flat colour per region the sketch's lines close (small gaps closed): a label's
    colour where one sits, else the network's median over the region."""
    engine: Literal["torch", "onnxruntime"] = "torch"
    """Who runs the generator: PyTorch, or onnxruntime (the onnx extra; RUN/generator.onnx
    from `sketchcolor export` when current, else the run is exported into memory first)."""
    onnx: Path | None = None
    """An exported .onnx of this run for --engine onnxruntime (e.g. its int8 export)."""
    layers: Annotated[str | None, arg(metavar="FILE.psd|FILE.ora|psd|ora")] = None
    """Also a layered file for Krita, GIMP or Photoshop (hints hidden, line art multiply, flat
    colours, shaded output; the visible layers show the --flatten picture): FILE.psd or
    FILE.ora for one sketch, psd or ora for one beside each output PNG (OUT/<stem>.psd).
    PSD needs psd-tools: pip install 'sketchcolor[layers]'."""


def options():
    return ColorizeOptions


def run(args: ColorizeOptions) -> int:
    from sketchcolor.errors import SketchcolorError
    from sketchcolor.inference.colorize import colorize

    pairs = [("palette", "palette_from"), ("palette", "palette_file"),
             ("palette_from", "palette_file"), ("hints", "hints_json")]  # fmt: skip
    for first, second in pairs:
        if getattr(args, first) is not None and getattr(args, second) is not None:
            first, second = (name.replace("_", "-") for name in (first, second))
            raise SketchcolorError(f"give --{first} or --{second}, not both")
    palette = args.palette
    if args.palette_file is not None:
        from sketchcolor.inference.palette_files import load_palette

        palette = load_palette(args.palette_file).colors
    written = colorize(
        list(args.sketches),
        args.run,
        args.out,
        palette=palette,
        palette_from=args.palette_from,
        hints_png=args.hints,
        hints_json=args.hints_json,
        batch_size=args.batch_size,
        resize=not args.keep_size,
        device=args.device,
        max_pixels=args.max_pixels,
        flatten=args.flatten,
        engine=args.engine,
        onnx=args.onnx,
        layers=args.layers,
    )
    where = written[0] if len(written) == 1 else written[0].parent
    layered = " and their layered files" if args.layers is not None else ""
    print(f"colorize: wrote {len(written)} image(s){layered} to {where}")
    return 0
