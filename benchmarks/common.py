"""Shared benchmark plumbing: machine facts, warm-up + median timing, JSON output.

Every benchmark script answers one question, has `--quick` (CPU, < 2 minutes) and
`--json PATH`, and reports comparisons as ratios measured in the same run.

Usage:
    from common import base_parser, machine_info, median_time, write_result
    seconds = median_time(lambda: work(), warmup=2, repeats=5)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "torch",
    "torchvision",
    "nvidia-dali-cuda130",
    "faiss-cpu",
    "faiss-gpu-cu12",
    "accelerate",
    "webdataset",
    "numpy",
    "pillow",
)


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small CPU run, under 2 minutes")
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    return parser


def machine_info() -> dict:
    """CPU, cores, GPU and library versions, so a number always says where it came from."""
    info = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "gpu": None,
        "libraries": {},
    }
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            info["libraries"][name] = metadata.version(name)
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_time(
    work: Callable[[], object],
    *,
    warmup: int = 1,
    repeats: int = 5,
    synchronize: Callable[[], None] | None = None,
) -> float:
    """Median wall-clock seconds of `work()` over `repeats` runs after `warmup` runs.

    Pass `synchronize=torch.cuda.synchronize` for GPU work: kernels run asynchronously,
    so without it the clock stops before the work does.
    """
    for _ in range(warmup):
        work()
    if synchronize:
        synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        if synchronize:
            synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_result(name: str, result: dict, json_path: Path | None) -> dict:
    """Attach the machine facts, print the result and save it as JSON when asked."""
    payload = {"benchmark": name, "machine": machine_info(), **result}
    text = json.dumps(payload, indent=2, default=str)
    print(text)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n")
    return payload
