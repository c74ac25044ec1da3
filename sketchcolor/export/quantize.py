"""int8 for CPUs: onnxruntime's static quantization of an exported run, calibrated on the
val sketches of the run's own shards, with the labels and palettes evaluation feeds.

Weights are int8 per output channel (7 bits used, for CPUs without VNNI), activations uint8
per tensor from the calibration min/max, in the QDQ format (QuantizeLinear/DequantizeLinear
pairs that onnxruntime fuses into integer kernels). The graph keeps its named inputs, dynamic shapes and metadata.

Usage: int8_model = quantize_int8(model_proto, config, Path("shards"), feeds=graph_feeds,
                                  metadata=onnx_metadata(run, names, "int8"))
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import RunConfig, image_size_of, run_hints, run_reference


def calibration_reader(config: RunConfig, feeds, shard_dir: Path, images: int, seed: int = 0):
    """A CalibrationDataReader over the first `images` val sketches, one per call, at the
    run's training size, fed as the engines feed them (fixed-seed training-style labels).

    feeds: inference.onnx_graph.graph_feeds (passed in: that module imports this one)."""
    from onnxruntime.quantization import CalibrationDataReader

    from sketchcolor.data.loading.loader import create_loader

    hint_config = config.hint_config
    size = image_size_of(config, shard_dir)
    loader = create_loader(shard_dir, split="val", image_size=size, batch_size=1,
                           device=torch.device("cpu"), backend="torch", training=False,
                           seed=seed, num_workers=0)  # fmt: skip

    class ValSketches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(loader.epoch(0))
            self.given = 0

        def get_next(self):
            if self.given >= images:
                return None
            batch = next(self.batches, None)
            if batch is None:
                return None
            self.given += 1
            hints = run_hints(config, batch, seed)
            return feeds(config, hint_config, batch["sketch"], batch["palette"], hints,
                         run_reference(config, batch, seed))  # fmt: skip

    return ValSketches()


def quantize_int8(model_proto, config: RunConfig, shard_dir: Path, *, feeds, metadata: dict,
                  images: int = 32):  # fmt: skip
    """The fp32 ModelProto `model_proto` of a run (its config.json `config`) as a static-int8
    ModelProto (QDQ) with `metadata` (inference.onnx_graph.onnx_metadata) as its metadata_props.

    feeds: inference.onnx_graph.graph_feeds, what the calibration sketches are fed as."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not (Path(shard_dir) / "manifest.json").is_file():
        raise SketchcolorError(f"{shard_dir}: no manifest.json; int8 calibration needs shards")
    reader = calibration_reader(config, feeds, Path(shard_dir), images)
    with tempfile.TemporaryDirectory(prefix="sketchcolor-int8-") as folder:
        fp32, prepared, int8 = (Path(folder) / name for name in ("fp32.onnx", "prep.onnx",
                                                                  "int8.onnx"))  # fmt: skip
        onnx.save(model_proto, fp32)
        # Folds constants and infers every shape, which the quantizer needs to place Q/DQ.
        # (onnx's shape inference: the symbolic one stops at the "256*h" sizes)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(int8), reader, quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            # 7-bit weights: x86 CPUs without VNNI multiply uint8 x int8 pairs with
            # vpmaddubsw, whose int16 sums saturate with full 8-bit weights (onnxruntime's
            # quantization guide). Seen on a 2-core AMD EPYC: mean |int8 - fp32| 0.084 with
            # 8 bits, under 0.05 with 7 (tests/export/test_onnx.py).
            reduce_range=True,
        )  # fmt: skip
        if reader.given == 0:
            raise SketchcolorError(f"{shard_dir}: the val split has no sketches to calibrate on")
        quantized = onnx.load(str(int8))
    metadata = {
        **metadata,
        "sketchcolor.calibration": f"{reader.given} val sketches of {shard_dir}",
    }
    del quantized.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    quantized.doc_string = model_proto.doc_string
    onnx.checker.check_model(quantized)
    return quantized
