"""A run's generator as an ONNX graph in memory: named inputs, dynamic batch and size, the
run in its metadata, checked against PyTorch. `sketchcolor export` writes it to a file
(export/onnx.py); the onnxruntime engine builds it when no current file exists.

The graph holds the whole generator call of `runs.generate` (the colour control's input
encoding, the generator and the clamp), so an app feeds what the run takes, by name, and
needs nothing of this package:

    sketch     (B, 3, H, W)  float32 in [-1, 1], white 1     every run
    palette    (B, 9, 3)     float32 in [-1, 1]              palette, mixed
    hint_rgb   (B, 3, H, W)  float32 in [-1, 1], white 1     hints, mixed (either encoding)
    hint_mask  (B, 1, H, W)  float32, 1 inside a label       hints, mixed
    reference  (B, 3, H, W)  float32 in [-1, 1], white 1     reference (with hint_rgb, hint_mask)
    -> color   (B, 3, H, W)  float32 in [-1, 1]

H and W are multiples of the generator's size_multiple (256 for Models 1, 2.1 and R, 512 for
2.2 and 3); the graph's own shapes say so ("256*h"). Spreading labels over line regions
(HintConfig.spread "regions", scipy on the CPU) stays outside the graph: `graph_feeds`
spreads before feeding, for every engine alike.

Usage: model_proto, max_error = onnx_model(load_inference_run("runs/m21-hints"))
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings

import numpy as np
import torch

from sketchcolor.config import DEFAULT_OPSET
from sketchcolor.data.controls.conditioning import (
    Hints,
    build_generator_input,
    empty_hints,
    spread_hints,
    uses_hints,
    uses_palette,
    uses_reference,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import InferenceRun, RunConfig

INSTALL_HINT = "pip install -e '.[onnx]'"
ONNX_FILE = "generator.onnx"
FORMAT = "sketchcolor-onnx/1"
METADATA_PREFIX = "sketchcolor."
OUTPUT_NAME = "color"
MIN_OPSET = 18
"""The dynamo exporter writes opset 18 or later (older opsets only through a version converter)."""
CHECK_TOLERANCE = 1e-4
"""Largest difference allowed between onnxruntime's and PyTorch's outputs (fp32) at export."""


def require_onnx():
    """onnx and onnxruntime, or a one-line error that names the command installing them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise SketchcolorError(
            f"ONNX export needs onnx, onnxscript and onnxruntime, the onnx extra: {INSTALL_HINT}"
        ) from error
    return onnx, onnxruntime


def input_names(color_control: str) -> list[str]:
    """The graph inputs of a colour control, in order: sketch [palette] [hint_rgb hint_mask]
    [reference]."""
    names = ["sketch"]
    if uses_palette(color_control):
        names.append("palette")
    if uses_hints(color_control):
        names += ["hint_rgb", "hint_mask"]
    if uses_reference(color_control):
        names.append("reference")
    return names


class TwoPassGroupNorm(torch.nn.Module):
    """nn.GroupNorm written out for onnxruntime's fp32: two passes (the variance as the mean
    of squared deviations) and each mean taken one axis at a time (W, then H, then the
    group's channels), so no sum runs over more than one axis.

    As exported, nn.GroupNorm becomes InstanceNormalization, and a written-out GroupNorm one
    ReduceMean over a whole group (64k values at 256 px); onnxruntime's kernels then lose
    digits where a group is nearly constant (the white of a sketch), which the
    normalisation amplifies: 3e-4 off PyTorch after the 8 levels of Model 2.1, where
    PyTorch's fp32 is 8e-6 off fp64.
    """

    def __init__(self, norm: torch.nn.GroupNorm) -> None:
        super().__init__()
        self.groups, self.eps = norm.num_groups, norm.eps
        self.group_channels = norm.num_channels // norm.num_groups
        self.weight, self.bias = norm.weight, norm.bias

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=4, keepdim=True).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        grouped = x.reshape(batch, self.groups, self.group_channels, height, width)
        centred = grouped - self.mean(grouped)
        normed = centred * torch.rsqrt(self.mean(centred * centred) + self.eps)
        normed = normed.reshape(batch, channels, height, width)
        return normed * self.weight[:, None, None] + self.bias[:, None, None]


def with_two_pass_group_norms(generator: torch.nn.Module) -> torch.nn.Module:
    """A copy of the generator whose GroupNorms are TwoPassGroupNorm (same weights)."""
    generator = copy.deepcopy(generator)
    for module in list(generator.modules()):
        for name, child in module.named_children():
            if isinstance(child, torch.nn.GroupNorm) and child.affine:
                setattr(module, name, TwoPassGroupNorm(child))
    return generator


class GeneratorGraph(torch.nn.Module):
    """The exported computation: named control inputs -> the run's input encoding -> the
    generator -> clamp to [-1, 1]; `runs.generate` without the hint spreading."""

    def __init__(self, generator: torch.nn.Module, color_control: str, hint_config, *,
                 two_pass: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.generator = with_two_pass_group_norms(generator) if two_pass else generator
        self.color_control = color_control
        self.hint_config = dataclasses.replace(hint_config, spread="none")  # spread outside

    def forward(self, sketch, palette=None, hint_rgb=None, hint_mask=None, reference=None):
        hints = None if hint_rgb is None else Hints(rgb=hint_rgb, mask=hint_mask)
        inputs = build_generator_input(self.color_control, sketch, palette=palette,
                                       hints=hints, hint_config=self.hint_config,
                                       reference=reference)  # fmt: skip
        return self.generator(inputs).clamp(-1, 1)  # (B, 3, H, W)


def graph_inputs(config: RunConfig, hint_config, sketch, palette, hints,
                 reference=None) -> dict[str, torch.Tensor]:  # fmt: skip
    """What the graph takes for one batch, by input name: no hints become empty ones, and
    labels are spread over their regions here when the run was trained so."""
    control = config.color_control
    inputs = {"sketch": sketch}
    if uses_palette(control):
        if palette is None:
            raise SketchcolorError(f"colour control {control!r} needs a palette")
        inputs["palette"] = palette.to(sketch).expand(sketch.shape[0], -1, -1)
    if uses_hints(control):
        hints = hints if hints is not None else empty_hints(sketch)
        if hint_config.spread == "regions":
            hints = spread_hints(sketch, hints)
        inputs["hint_rgb"], inputs["hint_mask"] = hints.rgb.to(sketch), hints.mask.to(sketch)
    if uses_reference(control):
        if reference is None:
            raise SketchcolorError(f"colour control {control!r} needs a reference picture")
        inputs["reference"] = reference.to(sketch)
    return inputs


def graph_feeds(config: RunConfig, hint_config, sketch, palette, hints,
                reference=None) -> dict[str, np.ndarray]:  # fmt: skip
    """`graph_inputs` as contiguous float32 arrays, what an onnxruntime session is fed."""
    inputs = graph_inputs(config, hint_config, sketch, palette, hints, reference)
    return {
        name: np.ascontiguousarray(value.detach().float().cpu().numpy())
        for name, value in inputs.items()
    }


def json_safe(value):
    """Config values as JSON (Paths as strings)."""
    return json.loads(json.dumps(value, default=str))


def model_facts(run: InferenceRun, precision: str) -> dict:
    """The model card's key facts, from the run's own files (no evaluation needed)."""
    config, train_config = run.config, run.train_config
    hint_config = config.hint_config
    facts = {
        "model": config.model,
        "parameters": sum(parameter.numel() for parameter in run.generator.parameters()),
        "width": config.width,
        "image_size": config.image_size,
        "size_multiple": run.generator.size_multiple,
        "color_control": config.color_control,
        "weights": "EMA of the generator" if config.ema else "the generator",
        "step": config.step,
        "images_seen": config.images_seen,
        "training_data": None if train_config is None else str(train_config.data),
        "precision": precision,
    }
    if uses_hints(config.color_control):
        facts["hint_encoding"] = hint_config.encoding
        facts["hint_spread"] = hint_config.spread
        facts["hint_label_size"] = hint_config.label_size
    return facts


def usage_text(names: list[str], multiple: int) -> str:
    """How to feed the graph, in words (the model's doc_string)."""
    shapes = {"sketch": "(B, 3, H, W) in [-1, 1], white 1", "palette": "(B, 9, 3) in [-1, 1]",
              "hint_rgb": "(B, 3, H, W) in [-1, 1], white where no label",
              "hint_mask": "(B, 1, H, W), 1 inside a label, else 0",
              "reference": "(B, 3, H, W) in [-1, 1], a coloured picture of the same character, "
                           "fitted to the canvas, white 1 around it"}  # fmt: skip
    lines = [f"{name}: float32 {shapes[name]}" for name in names]
    lines.append(f"-> {OUTPUT_NAME}: float32 (B, 3, H, W) in [-1, 1]")
    lines.append(f"H and W: multiples of {multiple}; pad a sketch with white (1) to fit.")
    return "\n".join(lines)


def onnx_metadata(run: InferenceRun, names: list[str], precision: str) -> dict[str, str]:
    """metadata_props: everything a user of the file alone needs, as strings."""
    card = run.source / "MODEL_CARD.md"
    train_config = {} if run.train_config is None else run.train_config.to_dict()
    metadata = {
        "format": FORMAT,
        "inputs": ",".join(names),
        "output": OUTPUT_NAME,
        "size_multiple": str(run.generator.size_multiple),
        "image_size": str(run.config.image_size or ""),
        "color_control": run.config.color_control,
        "hint_spread": run.config.hint_config.spread,
        "precision": precision,
        "weights_sha256": run.weights_sha256,
        "model_card": json.dumps(json_safe(model_facts(run, precision)), sort_keys=True),
        "config": json.dumps(json_safe(run.config.to_dict()), sort_keys=True),
        "train_config": json.dumps(json_safe(train_config), sort_keys=True),
        "usage": usage_text(names, run.generator.size_multiple),
    }
    if card.is_file():
        metadata["model_card_markdown"] = card.read_text()
    return {METADATA_PREFIX + key: value for key, value in metadata.items()}


def set_metadata(model_proto, metadata: dict[str, str]) -> None:
    """Replace the model's metadata_props with `metadata` (keys kept sorted)."""
    del model_proto.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(model_proto) -> dict[str, str]:
    """The sketchcolor.* metadata of an ONNX model, without the prefix."""
    return {
        entry.key[len(METADATA_PREFIX) :]: entry.value
        for entry in model_proto.metadata_props
        if entry.key.startswith(METADATA_PREFIX)
    }


def onnxruntime_max_opset() -> int:
    """The highest default-domain opset this onnxruntime loads (probed with one Identity node)."""
    onnx, onnxruntime = require_onnx()
    from onnx import TensorProto, helper

    for opset in range(onnx.defs.onnx_opset_version(), 0, -1):
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )  # fmt: skip
        opset_id = helper.make_opsetid("", opset)
        probe = helper.make_model(graph, opset_imports=[opset_id])
        probe.ir_version = helper.find_min_ir_version_for([opset_id])
        try:
            onnxruntime.InferenceSession(
                probe.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        except Exception:  # onnxruntime raises its own Fail/InvalidGraph types
            continue
        return opset
    raise SketchcolorError(f"onnxruntime {onnxruntime.__version__} loads no ONNX opset at all")


def check_opset(opset: int) -> None:
    """One line when the exporter cannot write `opset` or onnxruntime cannot run it."""
    onnx, onnxruntime = require_onnx()
    if opset < MIN_OPSET:
        raise SketchcolorError(
            f"opset {opset}: torch.onnx's exporter writes opset {MIN_OPSET} or later"
        )
    highest = onnxruntime_max_opset()
    if opset > highest:
        raise SketchcolorError(
            f"opset {opset}: onnxruntime {onnxruntime.__version__} runs opsets up to "
            f"{highest}; choose --opset {MIN_OPSET}..{highest}"
        )


def example_inputs(names: list[str], batch: int, height: int, width: int, seed: int = 0):
    """Random inputs of the graph's shapes: sketch-like values, a palette, sparse labels."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape):
        return torch.rand(*shape, generator=generator) * 2 - 1

    made = {"sketch": uniform(batch, 3, height, width), "palette": uniform(batch, 9, 3),
            "hint_rgb": uniform(batch, 3, height, width),
            "hint_mask": (torch.rand(batch, 1, height, width, generator=generator) > 0.9).float(),
            "reference": uniform(batch, 3, height, width)}  # fmt: skip
    return {name: made[name] for name in names}


def export_graph(graph: GeneratorGraph, names: list[str], multiple: int, opset: int):
    """torch.onnx.export of the graph with dynamic batch and size in multiples; a ModelProto.

    The exporter is torch.export's ("dynamo=True"). It exports Models 1, 2.1, 2.2, 3 and R with
    every colour control, and only it can say "H is a multiple of 256" (derived dims: the
    graph's shapes read "256*h"), which also lets torch.export prove the generator's
    check_size always passes. The TorchScript exporter is deprecated since PyTorch 2.9 and
    marks sizes as free symbols only.
    """
    from torch.export import Dim

    batch = Dim("batch", min=1)
    height, width = Dim("h", min=1), Dim("w", min=1)
    dynamic = {}
    for name in names:
        dynamic[name] = {0: batch} if name == "palette" else {0: batch, 2: multiple * height,
                                                              3: multiple * width}  # fmt: skip
    # The example must not be 1 along a dynamic axis (torch.export would specialise on it).
    example = example_inputs(names, 2, 2 * multiple, 2 * multiple)
    with warnings.catch_warnings():
        # input_names renames the shared dims once per input and warns for every repeat.
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints")
        program = torch.onnx.export(
            graph, args=(), kwargs=example, dynamo=True, dynamic_shapes=dynamic,
            input_names=names, output_names=[OUTPUT_NAME], opset_version=opset,
            optimize=True, verbose=False,
        )  # fmt: skip
    return program.model_proto


def forward_error(model_bytes: bytes, graph: GeneratorGraph, names: list[str], multiple: int):
    """Largest |onnxruntime - PyTorch| on a batch of one at multiple x 2*multiple (another
    batch and shape than the export's example, so the dynamic axes are exercised); `graph`
    is PyTorch's own call (nn.GroupNorm, not the exported two-pass form)."""
    _, onnxruntime = require_onnx()
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    inputs = example_inputs(names, 1, multiple, 2 * multiple, seed=1)
    with torch.no_grad():
        expected = graph(**inputs).numpy()
    got = session.run([OUTPUT_NAME], {name: value.numpy() for name, value in inputs.items()})[0]
    return float(np.abs(got - expected).max())


def onnx_model(run: InferenceRun, *, opset: int = DEFAULT_OPSET, check: bool = True):
    """The run's graph as a checked ModelProto with its metadata, and the forward check's
    largest error (None when not checked); refuses a graph that differs from PyTorch's."""
    onnx, _ = require_onnx()
    names = input_names(run.config.color_control)
    multiple = run.generator.size_multiple
    graph = GeneratorGraph(run.generator, run.config.color_control,
                           run.config.hint_config).eval()  # fmt: skip
    model_proto = export_graph(graph, names, multiple, opset)
    set_metadata(model_proto, onnx_metadata(run, names, "float32"))
    model_proto.doc_string = usage_text(names, multiple)
    model_proto.producer_name = "sketchcolor (torch.onnx dynamo exporter)"
    onnx.checker.check_model(model_proto, full_check=True)
    if not check:
        return model_proto, None
    reference = GeneratorGraph(run.generator, run.config.color_control,
                               run.config.hint_config, two_pass=False).eval()  # fmt: skip
    max_error = forward_error(model_proto.SerializeToString(), reference, names, multiple)
    if not max_error <= CHECK_TOLERANCE:
        raise SketchcolorError(
            f"{run.source}: onnxruntime's output differs from PyTorch's by {max_error:.2e} "
            f"(more than {CHECK_TOLERANCE:g}); nothing written"
        )
    return model_proto, max_error
