"""Names, choices and limits every command shares: colour controls, hint options, sizes,
the options a resume must keep, and the check that a value is one of its choices.

Usage: from sketchcolor.config.constants import COLOR_CONTROLS, check_choice
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from sketchcolor.errors import SketchcolorError

COLOR_CONTROLS = ("none", "palette", "hints", "mixed", "reference")
"""What the generator gets besides the sketch (see data/controls/conditioning.py); "reference"
is a coloured picture of the same character, not aligned with the sketch, with hint labels."""
HINT_ENCODINGS = ("overlay", "channels")
HINT_PLACEMENTS = ("grid", "dots")
HINT_SHAPES = ("dots", "strokes", "both")
HINT_SPREADS = ("none", "regions")
LINE_THRESHOLD = 200
LINE_LEVEL = LINE_THRESHOLD / 127.5 - 1
"""LINE_THRESHOLD in [-1, 1]: a darker sketch pixel (channel mean) is line."""
"""A sketch pixel whose mean channel value is below this (of 255) is line."""
PALETTE_SIZE = 9
"""Colours in a palette (the paper's 9)."""
PAPER_IMAGE_SIZE = 512
PAPER_LABEL_SIZE = 10
"""The paper's labels are 10x10 px on 512x512 images."""
MIXED_PRECISION_MODES = ("bf16", "fp16", "no")
"""The precisions a run trains in; "auto" (or None) chooses one of them when the run starts."""
LOADER_BACKENDS = ("auto", "dali", "torch")
IMAGE_FORMATS = {"jpeg": "jpg", "png": "png"}
"""Shard image encodings and their file extensions."""
PALETTE_ENGINES = ("auto", "faiss-cpu", "faiss-gpu", "torch")
"""k-means engines of data/controls/kmeans.py."""
MAX_SKETCH_PIXELS = 4096 * 4096
"""Largest sketch `colorize` and `serve` read unless told otherwise (about 16.8 MP), refused
before it is decoded: a 10000 x 10000 sketch's float copies take 4-8 GB, and a tiny compressed
file can claim a huge size."""
DEFAULT_MAX_FILE_SIZE = "32MB"
"""Largest upload `serve` takes: a line sketch at the pixel limit is a few MB as PNG, a noisy
RGB one nearer 30."""
DEFAULT_INIT_TIMEOUT = 900.0
"""Seconds the processes of a run wait for each other until its first step (process-group
start, the shard check, a checkpoint load); torch's own default is 30 min for gloo."""
DEFAULT_COLLECTIVE_TIMEOUT = 300.0
"""Seconds a process waits in one collective once the steps run: a dead or hung rank ends the
job in about this much time instead of torch's 10 (NCCL) or 30 (gloo) minutes."""
DEFAULT_OPSET = 18
"""ONNX opset `sketchcolor export` writes: the lowest the exporter writes, so the widest range
of runtimes (web, mobile, older ORTs) runs it."""

ColorControl = Literal["none", "palette", "hints", "mixed", "reference"]
HintEncoding = Literal["overlay", "channels"]
HintPlacement = Literal["grid", "dots"]
HintShape = Literal["dots", "strokes", "both"]
HintSpread = Literal["none", "regions"]
Upsampling = Literal["transposed", "resize"]
MixedPrecision = Literal["auto", "bf16", "fp16", "no"]
LoaderBackend = Literal["auto", "dali", "torch"]
Engine = Literal["torch", "onnxruntime"]
"""Who runs a generator in colorize, serve and the interactive benchmark (inference/engines.py):
PyTorch, or an onnxruntime session of the run's export."""
ENGINES: tuple[str, ...] = get_args(Engine)

# Options that must match the checkpoint's run when resuming: changing any of them would make
# the resumed run a different experiment (other weights shapes, other data order or objective).
RESUME_LOCKED_FIELDS = (
    "model.name", "model.color_control", "hints.grid", "hints.label_size", "hints.max_labels",
    "hints.zero_fraction", "hints.encoding", "hints.placement", "hints.spread", "hints.shape",
    "model.upsampling", "model.size", "model.width", "optim.batch_size",
    "optim.grad_accum", "seed", "model.ema", "loss.feature_loss",
)  # fmt: skip


def scaled_label_size(image_size: int) -> int:
    """The paper's 10 px label at 512 scaled to `image_size`, rounded half up, at least 1 px.

    256 -> 5, 128 -> 3, 64 -> 1, 1024 -> 20: a label then covers the same share of the image
    (and of a node cell) at every training size.
    """
    if image_size < 1:
        raise SketchcolorError(f"image size must be positive, got {image_size}")
    return max(1, math.floor(PAPER_LABEL_SIZE * image_size / PAPER_IMAGE_SIZE + 0.5))


def check_choice(kind: str, value, choices) -> None:
    if value not in choices:
        raise SketchcolorError(f"unknown {kind} {value!r}; choose one of {', '.join(choices)}")
