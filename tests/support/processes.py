"""Helpers for tests that start processes and servers, and for fault injection (commands,
waiting for a run to train, one-line errors, damaging a file).

Usage: port = free_port(); process = start(sketchcolor("train", *train_flags(...)), tmp_path)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sketchcolor.training.checkpoints.state import TrainingProgress


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def tiny_run_flags(shard_dir: Path, run: Path, steps: int, batch_size: int) -> list[str]:
    return [
        "--data", str(shard_dir), "--out", str(run), "--model", "1", "--color", "palette",
        "--size", "256", "--width", "0.0625", "--batch-size", str(batch_size),
        "--max-steps", str(steps), "--save-every", "2", "--sample-every", "0", "--log-every", "1",
        "--no-feature-loss", "--loader", "torch", "--num-workers", "0",
    ]  # fmt: skip


def train_flags(shard_dir: Path, run: Path, steps: int, save_every: int = 1000) -> list[str]:
    return [
        "--data", str(shard_dir), "--out", str(run), "--model", "1", "--color", "palette",
        "--size", "256", "--width", "0.0625", "--batch-size", "2", "--max-steps", str(steps),
        "--save-every", str(save_every), "--sample-every", "0", "--log-every", "1",
        "--no-feature-loss", "--loader", "torch", "--num-workers", "0",
    ]  # fmt: skip


def start(command: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=cwd, env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True, timeout=timeout
    )


def sketchcolor(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "sketchcolor", *arguments]


def train_module(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "sketchcolor.train", *arguments]


def wait_until_training(run_dir: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until the loop is about to start (TensorBoard's folder exists)."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "logs").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)


def assert_one_line_error(stderr: str, *needles: str) -> str:
    """The error is a single line holding every needle, and there is no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if "error:" in line or "stopped by" in line]
    assert len(lines) == 1, stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def step_of(checkpoint: Path) -> int:
    return TrainingProgress.from_file(checkpoint / "progress.json").step


def damage(path: Path, how: str) -> None:
    """Flip one byte of the file a third of the way in ("flip"), or cut it in half."""
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 3] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
