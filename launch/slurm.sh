#!/bin/bash
# Multi-node training under SLURM: one task per node, each running `accelerate launch` over its
# GPUs; the nodes meet at the first node of the allocation. Every variable used below is
# defined below (from SLURM's own variables or a default you can override).
#
# Usage (from the repository root, with the shards and --out on a shared file system):
#   sbatch --nodes 2 launch/slurm.sh --config launch/configs/paper.yaml --data /shared/shards --model 2.1 --color hints --out /shared/runs/m21-hints
#   (every train flag, --config FILE included, is passed through to `sketchcolor.train`)
# Overridable: GPUS_PER_NODE (default: SLURM_GPUS_ON_NODE, else 8), MAIN_PROCESS_PORT (29500),
#   PYTHON_ENV (a virtualenv to activate), REPO_DIR (default: the folder sbatch ran in),
#   ACCELERATE_CONFIG (default: launch/multi-node.yaml).
# The job asks to be requeued on preemption; `--resume` is always passed, so a requeued job
# continues from its last checkpoint (and a first start simply starts).
#
#SBATCH --job-name=sketchcolor
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out

set -euo pipefail

REPO_DIR=${REPO_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-$REPO_DIR/launch/multi-node.yaml}
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
NUM_NODES=${SLURM_NNODES:?run this script with sbatch (SLURM_NNODES is not set)}
NUM_PROCESSES=$((NUM_NODES * GPUS_PER_NODE))
# No `| head -n 1` here: under pipefail, scontrol's SIGPIPE would fail the job with several nodes.
mapfile -t NODE_NAMES < <(scontrol show hostnames "${SLURM_JOB_NODELIST:?SLURM_JOB_NODELIST is not set}")
MAIN_PROCESS_IP=${NODE_NAMES[0]}
MAIN_PROCESS_PORT=${MAIN_PROCESS_PORT:-29500}
PYTHON_ENV=${PYTHON_ENV:-}

if [ "$#" -eq 0 ]; then
    echo "usage: sbatch launch/slurm.sh --data SHARDS --model M --color C --out RUN_DIR [train flags]" >&2
    exit 2
fi
if [ -n "$PYTHON_ENV" ]; then
    # shellcheck disable=SC1091
    source "$PYTHON_ENV/bin/activate"
fi
cd "$REPO_DIR"

echo "sketchcolor: $NUM_NODES nodes x $GPUS_PER_NODE GPUs = $NUM_PROCESSES processes; main node $MAIN_PROCESS_IP:$MAIN_PROCESS_PORT"
export ACCELERATE_CONFIG NUM_NODES NUM_PROCESSES MAIN_PROCESS_IP MAIN_PROCESS_PORT

# Single quotes: SLURM_NODEID must expand on each node, where srun sets it to that node's rank.
srun --kill-on-bad-exit=1 bash -c '
    exec accelerate launch --config_file "$ACCELERATE_CONFIG" \
        --num_machines "$NUM_NODES" --num_processes "$NUM_PROCESSES" \
        --machine_rank "$SLURM_NODEID" \
        --main_process_ip "$MAIN_PROCESS_IP" --main_process_port "$MAIN_PROCESS_PORT" \
        -m sketchcolor.train "$@" --resume
' sketchcolor-node "$@"
