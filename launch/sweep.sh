#!/bin/bash
# Train every generator with every colour control: the paper's 9 runs (models 1, 2.1, 2.2 x
# none, palette, hints) plus Model 3 and the mixed control, 16 runs in all, one after another
# (or one SLURM job each). Runs already finished are continued, not restarted (--resume).
#
# Every run reads the same config file (TRAIN_CONFIG, default launch/configs/paper.yaml); the
# model, color control and run folder come from the loop, extra flags override the file.
#
# Usage: launch/sweep.sh SHARDS RUNS_ROOT [extra train flags...]
#   LAUNCHER="accelerate launch --config_file launch/eight-gpus.yaml" launch/sweep.sh shards runs --epochs 100
#   LAUNCHER="sbatch launch/slurm.sh" launch/sweep.sh /shared/shards /shared/runs     (SLURM: one job per run)
#   DRY_RUN=1 launch/sweep.sh shards runs      (print the 16 commands only)
# Overridable: MODELS ("1 2.1 2.2 3"), COLORS ("none palette hints mixed"),
#   TRAIN_CONFIG (launch/configs/paper.yaml), LAUNCHER (default: "python -m"), DRY_RUN (0).

set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: launch/sweep.sh SHARDS RUNS_ROOT [extra train flags...]" >&2
    exit 2
fi
SHARDS=$1
RUNS_ROOT=$2
shift 2
MODELS=${MODELS:-"1 2.1 2.2 3"}
COLORS=${COLORS:-"none palette hints mixed"}
TRAIN_CONFIG=${TRAIN_CONFIG:-launch/configs/paper.yaml}
LAUNCHER=${LAUNCHER:-"python -m"}
DRY_RUN=${DRY_RUN:-0}

case "$LAUNCHER" in
    sbatch*) TARGET=() ;;                    # launch/slurm.sh takes the train flags itself
    "python -m") TARGET=(sketchcolor.train) ;;
    *) TARGET=(-m sketchcolor.train) ;;      # accelerate launch ..., torchrun ...
esac

for model in $MODELS; do
    for color in $COLORS; do
        out="$RUNS_ROOT/model-$model-$color"
        # shellcheck disable=SC2206
        command=($LAUNCHER "${TARGET[@]}" --config "$TRAIN_CONFIG" --data "$SHARDS" --model "$model" --color "$color" \
            --out "$out" --resume "$@")
        if [ "$DRY_RUN" = 1 ]; then
            echo "${command[*]}"
        else
            echo "== model $model, color control $color -> $out"
            "${command[@]}"
        fi
    done
done
