"""`sketchcolor export`: a run's generator (or a checkpoint's) written to an ONNX file, checked
against PyTorch on export, optionally quantized to int8 (export/quantize.py). The graph
itself and its inputs are described in inference/onnx_graph.py.

Usage: report = export_onnx("runs/m21-hints", "runs/m21-hints/generator.onnx")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sketchcolor.config import ExportConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.onnx_graph import (
    DEFAULT_OPSET,
    ONNX_FILE,
    check_opset,
    graph_feeds,
    input_names,
    onnx_metadata,
    onnx_model,
    require_onnx,
)
from sketchcolor.runs import load_inference_run, training_data
from sketchcolor.util.files import atomic_output, create_output_folder

INT8_FILE = "generator.int8.onnx"


@dataclass
class ExportReport:
    """What `export_onnx` wrote and how closely onnxruntime reproduces PyTorch."""

    path: Path
    inputs: list[str]
    opset: int
    size_multiple: int
    max_error: float | None
    """Largest |onnxruntime - PyTorch| over the check input (None: not checked)."""
    seconds: float
    precision: str = "float32"


def export_onnx(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    data: str | Path | None = None,
    check: bool = True,
    int8: bool = False,
    calibration_images: int = 32,
) -> ExportReport:
    """Export a run folder's (or a checkpoint's) generator to an ONNX file.

    out: default RUN/generator.onnx (RUN/generator.int8.onnx with int8). data: the shards for
    a checkpoint's BatchNorm statistics and for int8 calibration (default: the shards the run
    was trained on). check: run onnxruntime beside PyTorch on one input and refuse a graph
    that differs by more than CHECK_TOLERANCE. int8: onnxruntime static quantization,
    calibrated on `calibration_images` val sketches (sketchcolor.export.quantize).
    """
    require_onnx()
    started = time.perf_counter()
    check_opset(opset)
    default_name = INT8_FILE if int8 else ONNX_FILE
    out = Path(out) if out else Path(run_dir) / default_name
    if out.suffix != ".onnx":
        raise SketchcolorError(f"{out}: the output needs the .onnx suffix")
    run = load_inference_run(run_dir, data)
    model_proto, max_error = onnx_model(run, opset=opset, check=check)
    precision = "float32"
    if int8:
        from sketchcolor.export.quantize import quantize_int8

        shard_dir = Path(data) if data else training_data(run.run_folder())
        names = input_names(run.config.color_control)
        model_proto = quantize_int8(model_proto, run.config, shard_dir, feeds=graph_feeds,
                                    metadata=onnx_metadata(run, names, "int8"),
                                    images=calibration_images)  # fmt: skip
        precision = "int8"
    write_model(model_proto.SerializeToString(), out)
    seconds = time.perf_counter() - started
    return ExportReport(out, input_names(run.config.color_control), opset,
                        run.generator.size_multiple, max_error, seconds, precision)  # fmt: skip


def export_run(config: ExportConfig) -> ExportReport:
    """`sketchcolor export`: `export_onnx` with an ExportConfig's options."""
    return export_onnx(config.run, config.onnx, opset=config.opset, data=config.data,
                       check=config.check, int8=config.int8,
                       calibration_images=config.calibration_images)  # fmt: skip


def write_model(model_bytes: bytes, out: Path) -> None:
    """The serialised model at `out`, whole or not at all."""
    create_output_folder(out.parent)
    try:
        with atomic_output(out) as temporary:
            temporary.write_bytes(model_bytes)
    except OSError as error:
        raise SketchcolorError(f"{out}: cannot write ({error.strerror or error})") from error
