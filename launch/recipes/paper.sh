#!/bin/bash
# The paper's experiment on the Kaggle "Anime Sketch Colorization Pair" set, end to end:
# shards, the paper's 9 runs (Models 1, 2.1, 2.2 x none, palette, hints) plus Model 3 and the
# mixed control (16 runs), evaluation with curves and model cards, and the table.
#
# Usage: launch/recipes/paper.sh KAGGLE_FOLDER WORK_FOLDER
#   KAGGLE_FOLDER holds data/train (14,224 pairs) and data/val (3,545 pairs), 1024x512 PNGs.
#   LAUNCHER="accelerate launch --config_file launch/eight-gpus.yaml" launch/recipes/paper.sh ...
#   DRY_RUN=1 launch/recipes/paper.sh kaggle work     (print the commands only)
#   STEP=estimate launch/recipes/paper.sh kaggle work (only the GPU-hour estimate below)
#
# Expected cost (the `estimate` step recomputes it from `sketchcolor models --size 512 --json`):
#   FLOPs per training image = 3 x (G + 3 x D) + 3 x VGG16
#     3x forward for forward + backward; D runs on three pairs per sample (real and fake for
#     its own update, fake again for G's adversarial loss); the VGG16 feature loss runs on the
#     fake and the real image at 224 px (30.9 GFLOPs each) plus the backward through the fake.
#   G forward at 512 px: Model 1 27.2, 2.1 109.8, 2.2 109.9, 3 112.2 GFLOPs; D 36.9 GFLOPs.
#   Images per run: 100 epochs x 14,224 train pairs = 1,422,400.
#   MFU assumed: 35% of an H100's bf16 dense peak (989 TFLOP/s) = 346 TFLOP/s sustained.
#   => Model 1: 506 GFLOPs/image, 0.58 GPU-hours per run;
#      Models 2.1 / 2.2: 754 GFLOPs/image, 0.86 GPU-hours; Model 3: 761 GFLOPs/image, 0.87.
#   16 runs: about 12.7 H100-hours; the evaluation (3,545 val images x 16 runs + Inception) is
#   minutes. The MFU is an assumption: TensorBoard's train/images_per_second gives the real
#   rate after the first minutes of a run (hours = 1,422,400 / rate / 3600 x GPUs).
#
# Every stage can be re-run: shards skip what is complete, runs resume (--resume), evaluation
# rewrites its folder.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: launch/recipes/paper.sh KAGGLE_FOLDER WORK_FOLDER" >&2
    exit 2
fi
KAGGLE=$1
WORK=$2
SHARDS="$WORK/shards"
RUNS="$WORK/runs"
RESULTS="$WORK/results"
STEP=${STEP:-all}
DRY_RUN=${DRY_RUN:-0}
export LAUNCHER=${LAUNCHER:-"python -m"}
MFU=${MFU:-0.35}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
TRAIN_IMAGES=${TRAIN_IMAGES:-14224}
EPOCHS=${EPOCHS:-100}

run() {
    echo "+ $*"
    if [ "$DRY_RUN" != 1 ]; then "$@"; fi
}

estimate() {
    sketchcolor models --size 512 --json | python3 -c '
import json, sys
mfu, peak, images = float(sys.argv[1]), float(sys.argv[2]) * 1e12, int(sys.argv[3]) * int(sys.argv[4])
rows = {row["name"]: row["gflops"] for row in json.load(sys.stdin)}
vgg = 30.9  # VGG16 forward at 224 px (15.5 G multiply-adds)
print(f"{images:,} training images per run; {mfu:.0%} MFU of {peak / 1e12:.0f} TFLOP/s")
print("| model | GFLOPs per training image | GPU-hours per run |\n|---|---:|---:|")
for model in ("1", "2.1", "2.2", "3"):
    per_image = 3 * (rows[model] + 3 * rows["discriminator"]) + 3 * vgg
    hours = per_image * 1e9 * images / (mfu * peak) / 3600
    print(f"| {model} | {per_image:.0f} | {hours:.2f} |")
' "$MFU" "$PEAK_TFLOPS" "$TRAIN_IMAGES" "$EPOCHS"
}

if [ "$STEP" = estimate ] || [ "$STEP" = all ]; then
    estimate
fi

# 1. pairs -> shards at 512 px (validates every file, 9-color palettes, resumable)
if [ "$STEP" = shards ] || [ "$STEP" = all ]; then
    run sketchcolor shards "$KAGGLE" "$SHARDS" --size 512 --workers 8
fi

# 2. the 16 runs with the paper's settings (launch/configs/paper.yaml: 512 px, batch 16,
#    Adam 2e-4, c1..c4 = 1, 100, 0.01, 1e-4, 100 epochs, bf16); val metrics in TensorBoard
#    every 5,000 steps; 20 checkpoints kept (one every 5,000 of the ~88,900 steps) for the curve.
if [ "$STEP" = train ] || [ "$STEP" = all ]; then
    if [ "$DRY_RUN" = 1 ]; then export DRY_RUN; fi
    launch/sweep.sh "$SHARDS" "$RUNS" --epochs "$EPOCHS" --save-every 5000 --keep-checkpoints 20 \
        --eval-every 5000 --eval-images 512
fi

# 3. evaluation: the curve of each run over its checkpoints (1,000 val images each); then FID
#    (dataset-level, all 3,545 val images), PSNR, SSIM, L1 of every export, the paper's table
#    and ratios (results.md) and MODEL_CARD.md in every run folder. The exports go last: every
#    evaluation writes the run's model card, and the card kept must be the export's.
if [ "$STEP" = evaluate ] || [ "$STEP" = all ]; then
    for run_dir in "$RUNS"/model-*; do
        run sketchcolor evaluate "$run_dir" --all-checkpoints --data "$SHARDS" \
            --out "$RESULTS/curves/$(basename "$run_dir")" --max-images 1000
    done
    run sketchcolor evaluate "$RUNS"/model-* --data "$SHARDS" --out "$RESULTS/final" --seed 0
    echo "the table: $RESULTS/final/results.md; curves: $RESULTS/curves/*/results-curve.png"
fi
