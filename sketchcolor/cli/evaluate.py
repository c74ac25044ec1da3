"""`sketchcolor evaluate`: FID, PSNR, SSIM and L1 of trained runs on a shard split, as a table.

Usage: sketchcolor evaluate runs/m1-none runs/m21-none --data shards/ --out evaluation/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="FID / PSNR / SSIM of runs on a split, the paper's table",
        description="Colour a shard split with each run's generator (under its own colour "
        "control, hints drawn from a fixed seed) and write results.json, results.md (the "
        "paper's models x colour controls table with its FID ratios) and results.png. "
        "Under `accelerate launch` the work is split over the processes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--data", type=Path, required=True, help="shard folder (manifest.json)")
    parser.add_argument("--split", default="val", help="split to evaluate")
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hint labels")
    parser.add_argument("--max-images", type=int, default=None,
                        help="only the first N samples of the split")  # fmt: skip
    parser.add_argument("--inception-weights", type=Path, default=None,
                        help="pt_inception-2015-12-05-6726825d.pth (default: torch hub cache)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where real-image FID statistics are cached "
                        "(default: ~/.cache/sketchcolor/fid)")  # fmt: skip
    parser.add_argument("--backend", choices=("auto", "dali", "torch"), default="auto",
                        help="batch loader (auto: DALI when importable)")  # fmt: skip
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not check the shards against the manifest first")  # fmt: skip
    parser.set_defaults(run=run)


def run(args) -> int:
    from accelerate import Accelerator

    from sketchcolor.evaluate import evaluate_runs
    from sketchcolor.evaluation_report import summary_text
    from sketchcolor.training.setup import has_gpu, release_accelerator

    # cpu=True without a GPU: only then does Accelerate turn torchrun's environment into a
    # (gloo) process group; otherwise every rank would evaluate the whole split on its own.
    accelerator = Accelerator(cpu=not has_gpu())
    is_main_process = accelerator.is_main_process
    try:
        results = evaluate_runs(
            args.runs,
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
            verify=args.verify,
        )
    finally:
        release_accelerator(accelerator)
    if is_main_process:
        print(summary_text(results, args.out, "evaluate"))
        for item in results["failed"]:
            print(f"sketchcolor evaluate: failed {item['run']}: {item['error']}", file=sys.stderr)
    return 1 if results["failed"] else 0
