"""`sketchcolor export`: a run's generator as an ONNX file (fp32, or int8 for CPUs).

Usage: sketchcolor export runs/m21-hints --onnx m21-hints.onnx [--int8]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tyro.conf import Positional

NAME = "export"
HELP = "export a run's generator to ONNX (fp32 or int8)"
DESCRIPTION = (
    "Export a run folder's (or RUN/checkpoints/step-N's) generator to ONNX with named inputs "
    "(sketch, palette, hint_rgb, hint_mask, as its colour control takes them), dynamic batch "
    "and size, and the run's config and model facts in the metadata; checked by onnx's "
    "checker and against PyTorch in onnxruntime. Needs the 'onnx' extra: pip install -e "
    "'.[onnx]'."
)


@dataclass(kw_only=True)
class ExportOptions:
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
    opset: int = 18
    """ONNX opset to write (18 is the lowest the exporter writes; the most runtimes run it)."""
    check: bool = True
    """Run onnxruntime beside PyTorch on one input; refuse a graph that differs by > 1e-4."""


def options():
    return ExportOptions


def run(args: ExportOptions) -> int:
    from sketchcolor.errors import SketchcolorError
    from sketchcolor.export.onnx import export_onnx

    if args.calibration_images < 1:
        raise SketchcolorError(f"calibration images must be >= 1, got {args.calibration_images}")
    report = export_onnx(args.run, args.onnx, opset=args.opset, data=args.data,
                         check=args.check, int8=args.int8,
                         calibration_images=args.calibration_images)  # fmt: skip
    checked = "" if report.max_error is None else f", fp32 max |ORT - torch| {report.max_error:.1e}"
    print(
        f"export: wrote {report.path} ({report.precision}, opset {report.opset}, inputs "
        f"{', '.join(report.inputs)}, H and W multiples of {report.size_multiple}{checked}, "
        f"{report.seconds:.0f} s)"
    )
    return 0
