"""`sketchcolor export`: a run's generator as an ONNX file (fp32, or int8 for CPUs).

The options are `sketchcolor.config.ExportConfig`; `export_run` runs them.

Usage: sketchcolor export runs/m21-hints --onnx m21-hints.onnx [--int8]
"""

from __future__ import annotations

NAME = "export"
HELP = "export a run's generator to ONNX (fp32 or int8)"
DESCRIPTION = (
    "Export a run folder's (or RUN/checkpoints/step-N's) generator to ONNX with named inputs "
    "(sketch, palette, hint_rgb, hint_mask, as its colour control takes them), dynamic batch "
    "and size, and the run's config and model facts in the metadata; checked by onnx's "
    "checker and against PyTorch in onnxruntime. Needs the 'onnx' extra: pip install -e "
    "'.[onnx]'."
)


def options():
    from sketchcolor.config import ExportConfig

    return ExportConfig


def run(config) -> int:
    from sketchcolor.export.onnx import export_run

    report = export_run(config)
    checked = "" if report.max_error is None else f", fp32 max |ORT - torch| {report.max_error:.1e}"
    print(
        f"export: wrote {report.path} ({report.precision}, opset {report.opset}, inputs "
        f"{', '.join(report.inputs)}, H and W multiples of {report.size_multiple}{checked}, "
        f"{report.seconds:.0f} s)"
    )
    return 0
