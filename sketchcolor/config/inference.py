"""Options of the commands that run a trained generator: `sketchcolor colorize` and
`sketchcolor export` (the command lines are generated from these fields).

Usage: colorize_files(ColorizeConfig(sketches=(Path("sketch.png"),), run=Path("runs/x"), out=Path("out.png")))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from tyro.conf import Positional, arg

from sketchcolor.config.constants import DEFAULT_OPSET, MAX_SKETCH_PIXELS, Engine
from sketchcolor.config.shared import Device
from sketchcolor.errors import SketchcolorError

# Options of colorize that name the same control two ways: at most one of each pair.
EXCLUSIVE_CONTROLS = (
    ("palette", "palette_from"),
    ("palette", "palette_file"),
    ("palette_from", "palette_file"),
    ("hints", "hints_json"),
)


@dataclass(kw_only=True)
class ColorizeConfig:
    """Options of `sketchcolor colorize` (sketchcolor.inference.colorize.colorize_files)."""

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
    reference: Path | None = None
    """A coloured picture of the same character (any size, shape, grayscale too), for a run
    trained with --color reference; the sketches are then frames, coloured in name order."""
    chain: bool = False
    """With --reference: each coloured frame becomes the reference of the next (flattening
    keeps the keyframe's own colours)."""
    batch_size: int = 8
    """Sketches per generator call."""
    keep_size: bool = False
    """Color at the sketch's own size (only pad) instead of the training size."""
    device: Device = None
    max_pixels: int = MAX_SKETCH_PIXELS
    """Refuse sketches with more pixels than this (a 10000 x 10000 one needs 4-8 GB)."""
    flatten: bool = False
    """One flat colour per region the sketch's lines close (small gaps closed): a label's
    colour where one sits, else the network's median over the region."""
    engine: Engine = "torch"
    """Who runs the generator: PyTorch, or onnxruntime (the onnx extra; RUN/generator.onnx
    from `sketchcolor export` when current, else the run is exported into memory first)."""
    onnx: Path | None = None
    """An exported .onnx of this run for --engine onnxruntime (e.g. its int8 export)."""
    layers: Annotated[str | None, arg(metavar="FILE.psd|FILE.ora|psd|ora")] = None
    """Also a layered file for Krita, GIMP or Photoshop (hints hidden, line art multiply, flat
    colours, shaded output; the visible layers show the --flatten picture): FILE.psd or
    FILE.ora for one sketch, psd or ora for one beside each output PNG (OUT/<stem>.psd).
    PSD needs psd-tools: pip install 'sketchcolor[layers]'."""

    def __post_init__(self):
        for first, second in EXCLUSIVE_CONTROLS:
            if getattr(self, first) is not None and getattr(self, second) is not None:
                first, second = (name.replace("_", "-") for name in (first, second))
                raise SketchcolorError(f"give --{first} or --{second}, not both")


@dataclass(kw_only=True)
class ExportConfig:
    """Options of `sketchcolor export` (sketchcolor.export.onnx.export_run)."""

    run: Positional[Path]
    """Run folder (config.json + generator.safetensors) or RUN/checkpoints/step-N."""
    onnx: Path | None = None
    """Output .onnx file (default RUN/generator.onnx, or RUN/generator.int8.onnx with --int8)."""
    int8: bool = False
    """Quantize to int8 (onnxruntime static quantization calibrated on the run's val sketches)."""
    data: Path | None = None
    """Shards for int8 calibration and a checkpoint's BatchNorm statistics (default: the
    shards the run was trained on, from its train_config.json)."""
    calibration_images: int = 32
    """Val sketches int8 calibration sees."""
    opset: int = DEFAULT_OPSET
    """ONNX opset to write (18 is the lowest the exporter writes; the most runtimes run it)."""
    check: bool = True
    """Run onnxruntime beside PyTorch on one input; refuse a graph that differs by > 1e-4."""

    def __post_init__(self):
        if self.calibration_images < 1:
            raise SketchcolorError(
                f"calibration images must be >= 1, got {self.calibration_images}"
            )
