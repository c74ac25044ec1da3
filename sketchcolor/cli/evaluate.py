"""`sketchcolor evaluate`: FID, PSNR, SSIM and L1 of trained runs on a shard split, as a table.

Usage: sketchcolor evaluate runs/m1-none runs/m21-none --data my-shards --out evaluation/
       sketchcolor evaluate runs/m1-none --all-checkpoints --data my-shards --out curve/
       sketchcolor evaluate runs/m1-hints --data my-shards --hint-counts 0,1,4,16,64 --flatten
       sketchcolor evaluate runs/m1-hints --data my-shards --hint-counts 0,1,4,16 --hint-shape strokes
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

NAME = "evaluate"
HELP = "FID / PSNR / SSIM of runs on a split, the paper's table"
DESCRIPTION = (
    "Color a shard split with each run's generator (under its own color control, hints drawn "
    "from a fixed seed) and write results.json, results.md (the paper's models x color "
    "controls table with its FID ratios) and results.png, and MODEL_CARD.md into each run "
    "folder. A checkpoint folder (RUN/checkpoints/step-N) or --all-checkpoints gives one row "
    "per step and results-curve.png (val L1, PSNR, FID against steps). Under `accelerate "
    "launch` the work is split over the processes. --hint-counts runs the interactive "
    "benchmark instead: each run and a paint bucket colour the split from N labels placed as "
    "a person places them (results.json, results.md, results-labels.png, examples.png)."
)


@dataclass(kw_only=True)
class EvaluateOptions:
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
    inception_weights: Path | None = None
    """pt_inception-2015-12-05-6726825d.pth (None: the torch hub cache)."""
    cache_dir: Path | None = None
    """Where real-image FID statistics are cached (None: ~/.cache/sketchcolor/fid)."""
    backend: Literal["auto", "dali", "torch"] = "auto"
    """Batch loader (auto: DALI when importable)."""
    all_checkpoints: bool = False
    """Evaluate every complete checkpoint of each run folder (one row per step, a curve)."""
    shard_cache: Path | None = None
    """Where s3:// shards are staged (None: $SKETCHCOLOR_SHARD_CACHE, else TMPDIR/sketchcolor-shards)."""
    verify: bool = True
    """Check the shards against manifest.json first (see `sketchcolor verify`; cached per machine)."""
    hint_counts: str | None = None
    """Comma-separated label counts, e.g. 0,1,4,16,64: run the interactive benchmark (colour
    accuracy, L1, PSNR, SSIM per count, beside a paint bucket) instead of the FID table."""
    flatten: bool = False
    """With --hint-counts: also score each run after flattening (one colour per line region,
    the labels' colours where they sit)."""
    engine: Literal["torch", "onnxruntime"] = "torch"
    """With --hint-counts: the generator call (onnxruntime: the run's export, see --onnx)."""
    onnx: Path | None = None
    """With --hint-counts --engine onnxruntime: this exported file of the one run given (e.g.
    RUN/generator.int8.onnx); default RUN/generator.onnx when current, else a fresh export."""
    hint_shape: Literal["dots", "strokes"] = "dots"
    """With --hint-counts: each label a dot, or a short stroke from the same point inside its
    colour region of the truth (the paint bucket then fills the regions its points touch)."""


def options():
    return EvaluateOptions


def parse_counts(text: str) -> tuple[int, ...]:
    """ "0,1,4" -> (0, 1, 4); a one-line error for anything else."""
    from sketchcolor.errors import SketchcolorError

    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 0:
        raise SketchcolorError(f"--hint-counts takes label counts like 0,1,4,16,64, got {text!r}")
    return counts


def run_interactive(args: EvaluateOptions) -> int:
    from sketchcolor.evaluation.interactive import interactive_benchmark
    from sketchcolor.evaluation.interactive_report import INTERACTIVE_TABLE, write_interactive

    benchmark = interactive_benchmark(
        list(args.runs), args.data, split=args.split, hint_counts=parse_counts(args.hint_counts),
        flatten=args.flatten, seed=args.seed, max_images=args.max_images,
        batch_size=args.batch_size, backend=args.backend, hint_shape=args.hint_shape,
        engine=args.engine, onnx=args.onnx,
    )  # fmt: skip
    write_interactive(benchmark, args.out)
    print((args.out / INTERACTIVE_TABLE).read_text().rstrip("\n"))
    print(f"evaluate: results in {args.out}")
    return 0


def run(args: EvaluateOptions) -> int:
    from sketchcolor.data.storage.s3 import use_shard_cache

    use_shard_cache(args.shard_cache)
    if args.hint_counts is not None:
        return run_interactive(args)
    if args.flatten or args.hint_shape != "dots" or args.engine != "torch" or args.onnx:
        from sketchcolor.errors import SketchcolorError

        given = ("--flatten" if args.flatten else "--hint-shape" if args.hint_shape != "dots"
                 else "--engine/--onnx")  # fmt: skip
        raise SketchcolorError(f"{given} is for the interactive benchmark: give --hint-counts")
    from sketchcolor.evaluation.evaluate import evaluate_runs
    from sketchcolor.evaluation.report import summary_text
    from sketchcolor.training.accelerators import create_accelerator, release_accelerator

    accelerator = create_accelerator()
    is_main_process = accelerator.is_main_process
    try:
        results = evaluate_runs(
            list(args.runs),
            args.data,
            args.split,
            out_dir=args.out,
            batch_size=args.batch_size,
            seed=args.seed,
            max_images=args.max_images,
            inception_weights=args.inception_weights,
            cache_dir=args.cache_dir,
            backend=args.backend,
            accelerator=accelerator,
            all_checkpoints=args.all_checkpoints,
            verify=args.verify,
        )
    finally:
        release_accelerator(accelerator)
    if is_main_process:
        print(summary_text(results, args.out, "evaluate"))
        for item in results["failed"]:
            print(f"sketchcolor evaluate: failed {item['run']}: {item['error']}", file=sys.stderr)
    return 1 if results["failed"] else 0
