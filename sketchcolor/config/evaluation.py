"""Options of the evaluation commands: `sketchcolor evaluate` (the FID table, or with
--hint-counts the interactive benchmark) and `sketchcolor fid` (the command lines are generated
from these fields).

Usage: evaluate(EvaluateConfig(runs=(Path("runs/m1-none"),), data=Path("shards")))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

from sketchcolor.config.constants import Engine, LoaderBackend
from sketchcolor.config.files import is_template
from sketchcolor.config.shared import Device, InceptionWeights, ShardCache
from sketchcolor.errors import SketchcolorError


def parse_hint_counts(text: str) -> tuple[int, ...]:
    """ "0,1,4" -> (0, 1, 4); a one-line error for anything else."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 0:
        raise SketchcolorError(f"--hint-counts takes label counts like 0,1,4,16,64, got {text!r}")
    return counts


@dataclass(kw_only=True)
class EvaluateConfig:
    """Options of `sketchcolor evaluate` (sketchcolor.evaluation.evaluate.evaluate, with
    hint_counts sketchcolor.evaluation.interactive_report.interactive_evaluation, with
    reference_benchmark sketchcolor.evaluation.reference_report.reference_evaluation)."""

    runs: Positional[tuple[Path, ...]]
    """Run folders, or checkpoint folders RUN/checkpoints/step-N."""
    data: str | Path
    """Shard folder (manifest.json), or s3://BUCKET/PREFIX."""
    split: str = "val"
    """Split to evaluate."""
    out: Path = Path("evaluation")
    """Output folder."""
    batch_size: int = 16
    """Images per batch."""
    seed: int = 0
    """Seed of the hint labels."""
    max_images: int | None = None
    """Only the first N samples of the split."""
    inception_weights: InceptionWeights = None
    cache_dir: Path | None = None
    """Where real-image FID statistics are cached (None: ~/.cache/sketchcolor/fid)."""
    backend: LoaderBackend = "auto"
    """Batch loader (auto: DALI when importable)."""
    all_checkpoints: bool = False
    """Evaluate every complete checkpoint of each run folder (one row per step, a curve)."""
    shard_cache: ShardCache = None
    verify: bool = True
    """Check the shards against manifest.json first (see `sketchcolor verify`; cached per machine)."""
    hint_counts: str | None = None
    """Comma-separated label counts, e.g. 0,1,4,16,64: run the interactive benchmark (colour
    accuracy, L1, PSNR, SSIM per count, beside a paint bucket) instead of the FID table."""
    flatten: bool = False
    """With --hint-counts: also score each run after flattening (one colour per line region,
    the labels' colours where they sit)."""
    engine: Engine = "torch"
    """With --hint-counts: the generator call (onnxruntime: the run's export, see --onnx)."""
    onnx: Path | None = None
    """With --hint-counts --engine onnxruntime: this exported file of the one run given (e.g.
    RUN/generator.int8.onnx); default RUN/generator.onnx when current, else a fresh export."""
    reference_benchmark: bool = False
    """Run the reference benchmark instead of the FID table: reference runs (and palette or
    mixed runs as baselines) colour warped frames from their unwarped colours, a chained
    sequence and OpenMoji people from another drawing of the same person
    (evaluation/reference_benchmark.py): reference.md, reference-curves.png."""
    hint_shape: Literal["dots", "strokes"] = "dots"
    """With --hint-counts: each label a dot, or a short stroke from the same point inside its
    colour region of the truth (the paint bucket then fills the regions its points touch)."""

    def __post_init__(self):
        if self.hint_counts is not None and self.reference_benchmark:
            raise SketchcolorError("give --hint-counts or --reference-benchmark, not both")
        if self.reference_benchmark and (self.flatten or self.onnx or self.hint_shape != "dots"
                                         or self.all_checkpoints):  # fmt: skip
            raise SketchcolorError("--flatten, --onnx, --hint-shape and --all-checkpoints are "
                                   "not for --reference-benchmark (it flattens on its own, "
                                   "without labels, on run folders)")  # fmt: skip
        if self.reference_benchmark:
            return
        if self.hint_counts is not None:
            parse_hint_counts(self.hint_counts)
            return
        if is_template(self):  # a --config file's defaults: the flags may add --hint-counts
            return
        given = ("--flatten" if self.flatten else "--hint-shape" if self.hint_shape != "dots"
                 else "--engine/--onnx" if self.engine != "torch" or self.onnx else None)  # fmt: skip
        if given is not None:
            raise SketchcolorError(f"{given} is for the interactive benchmark: give --hint-counts")

    @property
    def interactive(self) -> bool:
        """--hint-counts given: the interactive benchmark, not the FID table."""
        return self.hint_counts is not None

    @property
    def label_counts(self) -> tuple[int, ...]:
        """--hint-counts as numbers (the interactive benchmark's label counts)."""
        return parse_hint_counts(self.hint_counts or "")


@dataclass(kw_only=True)
class FidConfig:
    """Options of `sketchcolor fid` (sketchcolor.evaluation.fid.fid_of_folders)."""

    path_a: Positional[Path]
    """A folder of images or an .npz."""
    path_b: Positional[Path]
    """A folder of images or an .npz."""
    inception_weights: InceptionWeights = None
    batch_size: int = 50
    """Images per Inception batch."""
    device: Device = None
