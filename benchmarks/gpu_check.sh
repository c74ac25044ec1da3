#!/usr/bin/env bash
# Measure everything GPU-only on a lent machine with one GPU, torch preinstalled, no network.
#
# Two commands of under 10 minutes each (run from anywhere; results land in benchmarks/results):
#   benchmarks/gpu_check.sh env+tests WHEELS   install WHEELS/*.whl (DALI, faiss-gpu, webdataset
#                                              and their dependencies) into .gpu-check-site with
#                                              pip --no-index --no-deps --target, print the
#                                              environment and whether it fits together, run
#                                              `pytest -m gpu`, then the evaluation (images/s,
#                                              FID seconds) and palette GPU rows (~6 min)
#   benchmarks/gpu_check.sh bench              loader rows at 1024x512 (DALI mixed / DALI CPU /
#                                              torchvision GPU decode / torch / naive), training
#                                              rows (Models 1, 2.1, 2.2, 3 at 512, bf16, full
#                                              width; plain, --channels-last, --compile) (~9 min)
#   benchmarks/gpu_check.sh env [WHEELS]       the environment report only
# WHEELS may hold the pieces benchmarks/gpu_wheels.sh cut (carry-NN/piece-NN): they are joined.
# Then: python benchmarks/gpu_tables.py (writes benchmarks/results/gpu-tables.md).
# Without a GPU each step prints the environment and a one-line skip message, and exits 0.
# Environment: GPU_CHECK_RESULTS (default benchmarks/results), GPU_CHECK_SITE (install folder).
set -euo pipefail

usage() {
    echo "usage: gpu_check.sh env+tests WHEELS_FOLDER | bench | env [WHEELS_FOLDER]" >&2
    exit 2
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${GPU_CHECK_RESULTS:-$REPO/benchmarks/results}
SITE=${GPU_CHECK_SITE:-$REPO/.gpu-check-site}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"

join_pieces() {  # WHEELS: the pieces gpu_wheels.sh cut (WHEELS/carry-NN/piece-NN) -> a folder
    local wheels=$1
    shift
    local pieces=("$@") number
    for ((number = 0; number < ${#pieces[@]}; number++)); do
        if [ ! -f "$wheels/carry-$(printf '%02d' "$number")/piece-$(printf '%02d' "$number")" ]; then
            echo "gpu_check.sh: $wheels: piece $(printf '%02d' "$number") is missing (${#pieces[@]} found)" >&2
            exit 2
        fi
    done
    local joined="$SITE.wheels"
    rm -rf "$joined"
    mkdir -p "$joined"
    echo "== joining ${#pieces[@]} pieces from $wheels" >&2
    if ! cat "${pieces[@]}" | tar -xf - -C "$joined" 2>/dev/null; then
        echo "gpu_check.sh: $wheels: the ${#pieces[@]} pieces are not a whole archive (the last one missing?)" >&2
        exit 2
    fi
    echo "$joined/wheels"
}

install_wheels() {  # WHEELS: every wheel in the folder, as is (the folder carries the deps)
    local wheels=$1
    if [ ! -d "$wheels" ]; then
        echo "gpu_check.sh: $wheels: no such folder of wheels" >&2
        exit 2
    fi
    shopt -s nullglob
    local pieces=("$wheels"/carry-*/piece-*)
    shopt -u nullglob
    if [ ${#pieces[@]} -gt 0 ]; then
        wheels=$(join_pieces "$wheels" "${pieces[@]}")
    fi
    shopt -s nullglob
    local files=("$wheels"/*.whl)
    shopt -u nullglob
    if [ ${#files[@]} -eq 0 ]; then
        echo "gpu_check.sh: no .whl files in $wheels; using what is installed"
        return
    fi
    echo "== installing ${#files[@]} wheels from $wheels into $SITE"
    # --no-deps: with --target pip ignores what is installed, so resolving would ask for torch
    # and numpy again; the folder is expected to hold DALI's, faiss's and webdataset's own deps.
    "$PYTHON" -m pip install --quiet --no-index --no-deps --upgrade --target "$SITE" "${files[@]}"
}

report() {  # prints the environment; returns 1 when there is no GPU
    echo "== environment"
    nvidia-smi 2>/dev/null || echo "nvidia-smi: not found"
    mkdir -p "$RESULTS"
    local json=()
    if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        json=(--json "$RESULTS/gpu_env-gpu.json")
        "$PYTHON" "$REPO/benchmarks/gpu_env.py" "${json[@]}"
        return 0
    fi
    "$PYTHON" "$REPO/benchmarks/gpu_env.py"
    return 1
}

timed() {  # LIMIT NAME COMMAND...: one row set, stopped at LIMIT seconds so the rest still runs
    local limit=$1 name=$2
    shift 2
    echo "== $name (at most ${limit}s)"
    local start=$SECONDS
    timeout --signal=INT "$limit" "$@" || echo "gpu_check.sh: $name stopped or failed (exit $?)"
    echo "== $name took $((SECONDS - start))s"
}

bench_eval_and_palettes() {
    timed 150 "evaluation: images/s and Frechet distance" \
        "$PYTHON" "$REPO/benchmarks/bench_eval.py" --json "$RESULTS/bench_eval-gpu.json"
    timed 120 "palettes" \
        "$PYTHON" "$REPO/benchmarks/bench_palette.py" --json "$RESULTS/bench_palette-gpu.json"
}

bench_loader_and_training() {
    timed 170 "loaders at 1024x512 -> 512" \
        "$PYTHON" "$REPO/benchmarks/bench_loader.py" --pairs 192 --size 512 --batch-size 32 \
        --workers 8 --seconds 12 --json "$RESULTS/bench_loader_1024-gpu.json"
    local common=(--models 1 2.1 2.2 3 --sizes 512 --precisions bf16 --batch-size 16
                  --repeats 10 --warmup 3)
    timed 110 "training, bf16" \
        "$PYTHON" "$REPO/benchmarks/bench_train.py" "${common[@]}" \
        --json "$RESULTS/bench_train-gpu.json"
    timed 110 "training, bf16 + channels-last" \
        "$PYTHON" "$REPO/benchmarks/bench_train.py" "${common[@]}" --channels-last \
        --json "$RESULTS/bench_train_channels_last-gpu.json"
    timed 195 "training, bf16 + compile" \
        "$PYTHON" "$REPO/benchmarks/bench_train.py" "${common[@]}" --compile \
        --json "$RESULTS/bench_train_compile-gpu.json"
}

[ $# -ge 1 ] || usage
step=$1
shift
case "$step" in
    env+tests)
        [ $# -eq 1 ] || usage
        install_wheels "$1"
        if ! report; then
            echo "no GPU: skipping pytest -m gpu and the GPU benchmarks"
            exit 0
        fi
        echo "== pytest -m gpu"
        (cd "$REPO" && timeout 240 "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider) ||
            echo "gpu_check.sh: pytest -m gpu failed (exit $?)"
        bench_eval_and_palettes
        ;;
    bench)
        [ $# -eq 0 ] || usage
        if ! report; then
            echo "no GPU: skipping pytest -m gpu and the GPU benchmarks"
            exit 0
        fi
        bench_loader_and_training
        "$PYTHON" "$REPO/benchmarks/gpu_tables.py" --results "$RESULTS"
        ;;
    env)
        [ $# -le 1 ] || usage
        [ $# -eq 0 ] || install_wheels "$1"
        report || echo "no GPU: skipping pytest -m gpu and the GPU benchmarks"
        ;;
    *)
        usage
        ;;
esac
