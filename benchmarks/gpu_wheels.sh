#!/usr/bin/env bash
# Fetch, on a machine that reaches PyPI, the wheels a lent GPU machine lacks, in pieces that each
# fit one call's transfer limit.
#
# The lent machine has Python 3.12 with torch, torchvision, accelerate, scipy, pillow, pytest
# (and their dependencies) and no network; each call carries at most 64 MiB. This downloads the
# rest for Python 3.12 on Linux x86-64 (DALI and its nvImageCodec/nvCOMP libraries, faiss,
# webdataset, tyro, pytorch-fid, TensorBoard, matplotlib; about 320 MB), packs them into one
# tar stream and cuts it into pieces of PIECE bytes (split's sizes: 60M), each in its own folder
# OUT/carry-NN:
#
#   benchmarks/gpu_wheels.sh [OUT] [PIECE]   (defaults: .whl, 60M)
#   benchmarks/gpu_wheels.sh --pieces-only OUT [PIECE]   cut OUT/wheels as it is (no download)
#
# Then carry OUT/carry-00, OUT/carry-01, ... one per call while the machine stays warm (an
# ignored folder stays there between calls), and run `benchmarks/gpu_check.sh env+tests OUT`,
# which joins the pieces back and installs the wheels.
set -euo pipefail

download=1
if [ "${1:-}" = "--pieces-only" ]; then
    download=0
    shift
fi
out=${1:-.whl}
piece_size=${2:-60M}
python=${PYTHON:-python3}

if [ "$download" = 1 ]; then
    rm -rf "$out/wheels"
    mkdir -p "$out/wheels"
    # What none of them needs torch for, with their dependencies, for the lent machine's Python.
    "$python" -m pip download --quiet --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any -d "$out/wheels" \
        "nvidia-dali-cuda130>=1.50" "faiss-cpu>=1.8" "webdataset>=0.2.100" "tyro>=1.0" \
        "tensorboard>=2.14" "matplotlib>=3.7"
    # pytorch-fid alone: its dependencies (torch, numpy, scipy, pillow) are on the machine.
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        -d "$out/wheels" "pytorch-fid>=0.3"
    # The machine's torch was built against its own numpy; a second one installed beside it
    # with --target would shadow it.
    rm -f "$out/wheels"/numpy-*.whl
fi

shopt -s nullglob
wheels=("$out/wheels"/*.whl)
shopt -u nullglob
if [ ${#wheels[@]} -eq 0 ]; then
    echo "gpu_wheels.sh: no .whl files in $out/wheels" >&2
    exit 2
fi
rm -rf "$out"/carry-*
# One tar stream cut into pieces, rather than wheels grouped by size: the DALI wheel alone is
# larger than one call may carry.
tar -cf - -C "$out" wheels | split -b "$piece_size" -d -a 2 - "$out/piece-"
count=0
for piece in "$out"/piece-*; do
    number=${piece##*-}
    mkdir -p "$out/carry-$number"
    mv "$piece" "$out/carry-$number/piece-$number"
    count=$((count + 1))
done
echo "gpu_wheels.sh: ${#wheels[@]} wheels ($(du -sh "$out/wheels" | cut -f1)) in $count pieces:" \
    "carry $out/carry-00 .. $out/carry-$(printf '%02d' $((count - 1))), one per call;" \
    "then benchmarks/gpu_check.sh env+tests $out"
