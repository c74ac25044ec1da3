"""`sketchcolor evaluate`: FID, PSNR, SSIM and L1 of trained runs on a shard split, as a table.

Usage: sketchcolor evaluate runs/m1-none runs/m21-none --data my-shards --out evaluation/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

NAME = "evaluate"
HELP = "FID / PSNR / SSIM of runs on a split, the paper's table"
DESCRIPTION = (
    "Color a shard split with each run's generator (under its own color control, hints drawn "
    "from a fixed seed) and write results.json, results.md (the paper's models x color "
    "controls table with its FID ratios) and results.png. Under `accelerate launch` the work "
    "is split over the processes."
)


@dataclass(kw_only=True)
class EvaluateOptions:
    runs: Positional[tuple[Path, ...]]
    """Run folders."""
    data: Path
    """Shard folder (manifest.json)."""
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


def options():
    return EvaluateOptions


def run(args: EvaluateOptions) -> int:
    from sketchcolor.accelerators import create_accelerator, release_accelerator
    from sketchcolor.evaluation.evaluate import evaluate_runs
    from sketchcolor.evaluation.report import summary_text

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
        )
    finally:
        release_accelerator(accelerator)
    if is_main_process:
        print(summary_text(results, args.out, "evaluate"))
    return 0
