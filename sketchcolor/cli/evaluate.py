"""`sketchcolor evaluate`: FID, PSNR, SSIM and L1 of trained runs on a shard split, as a table.

The options are `sketchcolor.config.EvaluateConfig`; `evaluate` runs them, or with
--hint-counts `interactive_evaluation`.

Usage: sketchcolor evaluate runs/m1-none runs/m21-none --data my-shards --out evaluation/
       sketchcolor evaluate runs/m1-none --all-checkpoints --data my-shards --out curve/
       sketchcolor evaluate runs/m1-hints --data my-shards --hint-counts 0,1,4,16,64 --flatten
       sketchcolor evaluate runs/m1-hints --data my-shards --hint-counts 0,1,4,16 --hint-shape strokes
       sketchcolor evaluate runs/mR-reference runs/m1-mixed --data my-shards --reference-benchmark
"""

from __future__ import annotations

import sys

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
    "a person places them (results.json, results.md, results-labels.png, examples.png). "
    "--reference-benchmark measures reference runs: warped frames, a chained sequence and "
    "same-character pairs (reference.md, reference-curves.png, reference-examples.png)."
)


def options():
    from sketchcolor.config import EvaluateConfig

    return EvaluateConfig


def run(config) -> int:
    if config.reference_benchmark:
        from sketchcolor.evaluation.reference_report import reference_evaluation

        table = reference_evaluation(config)
        print(table.read_text().rstrip("\n"))
        print(f"evaluate: results in {config.out}")
        return 0
    if config.interactive:
        from sketchcolor.evaluation.interactive_report import interactive_evaluation

        table = interactive_evaluation(config)
        print(table.read_text().rstrip("\n"))
        print(f"evaluate: results in {config.out}")
        return 0
    from sketchcolor.evaluation.evaluate import evaluate
    from sketchcolor.evaluation.report import summary_text

    results, main_process = evaluate(config)
    if main_process:
        print(summary_text(results, config.out, "evaluate"))
        for item in results["failed"]:
            print(f"sketchcolor evaluate: failed {item['run']}: {item['error']}", file=sys.stderr)
    return 1 if results["failed"] else 0
