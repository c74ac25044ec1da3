#!/bin/bash
# Multi-node training under SLURM: one task per node, each running `accelerate launch` over its
# GPUs; the nodes meet at the first node of the allocation. Every variable used below is
# defined below (from SLURM's own variables or a default you can override).
#
# Usage (from the repository root, with the shards and --out on a shared file system):
#   sbatch --nodes 2 launch/slurm.sh --config launch/configs/paper.yaml --data /shared/shards --model 2.1 --color hints --out /shared/runs/m21-hints
#   (every train flag, --config FILE included, is passed through to `sketchcolor.train`)
# On a cloud cluster with the shards in a bucket and a fast local disk per node:
#   sketchcolor shards my-pairs s3://my-bucket/shards --size 512 --workers 8   # once, anywhere
#   SHARD_CACHE=/mnt/nvme/sketchcolor-shards AWS_PROFILE=training \
#     sbatch --nodes 4 launch/slurm.sh --data s3://my-bucket/shards --model 2.1 --color hints --out /shared/runs/x
#   Each node stages the tars its ranks read into SHARD_CACHE (checked against the manifest's
#   sha256, downloaded ahead of the loader, kept for the next epoch and for a requeued job, so
#   choose a node-local disk that outlives the job, not a per-job temp folder; SHARD_CACHE_MAX_GB
#   bounds it: least recently used tars no running job uses are deleted). The credentials
#   reach the nodes through the environment (AWS_* variables, AWS_PROFILE, AWS_ENDPOINT_URL for
#   MinIO, Ceph or R2) and are written nowhere; --out must still be reachable by every
#   requeue (a shared folder, or the first node's disk when it always runs there).
# Overridable: GPUS_PER_NODE (default: SLURM_GPUS_ON_NODE, else 8), MAIN_PROCESS_PORT (29500),
#   PYTHON_ENV (a virtualenv to activate), REPO_DIR (default: the folder sbatch ran in),
#   ACCELERATE_CONFIG (default: launch/multi-node.yaml), SHARD_CACHE (where s3:// shards are
#   staged on each node; default $SKETCHCOLOR_SHARD_CACHE, else ${TMPDIR:-/tmp}/sketchcolor-shards),
#   SHARD_CACHE_MAX_GB (its bound in GB; default $SKETCHCOLOR_SHARD_CACHE_MAX_GB, else none).
# The job asks to be requeued on preemption; `--resume` is always passed, so a requeued job
# continues from its last checkpoint (and a first start simply starts).
# Before the time limit SLURM sends this script SIGUSR1 (--signal=B:USR1@300); the trap below
# passes SIGTERM on to the training processes, which save a checkpoint of the step they reached
# and exit (code 143), then requeues the job, which resumes from that checkpoint by itself.
# A preemption sends SIGTERM to the training processes directly, with the same effect (SLURM's
# KillWait, often 30 s, must cover one step plus one save).
# A rank that fails prints one line naming itself and the step, and its node's launcher exits
# non-zero; srun's --kill-on-bad-exit then ends the other nodes, and ranks left waiting on one
# that hangs fail after --collective-timeout (default 300 s; --init-timeout, 900 s, covers the
# start). `scontrol requeue JOBID` (SLURM does it itself after a node failure) continues from
# the last checkpoint, since --resume is always passed.
#
#SBATCH --job-name=sketchcolor
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@300
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
SHARD_CACHE=${SHARD_CACHE:-${SKETCHCOLOR_SHARD_CACHE:-${TMPDIR:-/tmp}/sketchcolor-shards}}
SHARD_CACHE_MAX_GB=${SHARD_CACHE_MAX_GB:-${SKETCHCOLOR_SHARD_CACHE_MAX_GB:-}}

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
# Read by data/storage/s3.py on every node (only s3:// --data uses it).
export SKETCHCOLOR_SHARD_CACHE=$SHARD_CACHE
export SKETCHCOLOR_SHARD_CACHE_MAX_GB=$SHARD_CACHE_MAX_GB  # empty: no bound
export ACCELERATE_CONFIG NUM_NODES NUM_PROCESSES MAIN_PROCESS_IP MAIN_PROCESS_PORT

TIME_LIMIT_NEAR=0
on_time_limit_warning() {
    TIME_LIMIT_NEAR=1
    echo "sketchcolor: time limit near; asking every training process to checkpoint and stop"
    # Every process of the step (the launcher forwards SIGTERM to its workers as well).
    scancel --signal=TERM "$SLURM_JOB_ID.0" || true
}
trap on_time_limit_warning USR1

# Single quotes: SLURM_NODEID must expand on each node, where srun sets it to that node's rank.
# In the background with `wait`, so that bash runs the trap as soon as the signal comes.
srun --kill-on-bad-exit=1 bash -c '
    exec accelerate launch --config_file "$ACCELERATE_CONFIG" \
        --num_machines "$NUM_NODES" --num_processes "$NUM_PROCESSES" \
        --machine_rank "$SLURM_NODEID" \
        --main_process_ip "$MAIN_PROCESS_IP" --main_process_port "$MAIN_PROCESS_PORT" \
        -m sketchcolor.train "$@" --resume
' sketchcolor-node "$@" &
SRUN_PID=$!
STATUS=0
# `wait` returns early when the trap runs; wait again until srun itself has ended.
while kill -0 "$SRUN_PID" 2>/dev/null; do
    wait "$SRUN_PID" || STATUS=$?
done
if [ "$TIME_LIMIT_NEAR" -eq 1 ]; then
    echo "sketchcolor: checkpoint written; requeueing job $SLURM_JOB_ID to continue with --resume"
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
fi
exit "$STATUS"
