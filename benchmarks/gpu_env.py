"""The environment report of gpu_check.sh: GPU, driver, torch + CUDA, DALI and faiss builds.

Prints what is installed and whether the pieces fit together (the driver supports the CUDA
that torch and DALI were built for, torch has kernels for this GPU, faiss sees the GPU), one
line per check: "ok", "PROBLEM" or "-" (not applicable). Without a GPU it says so and exits 0,
so a CPU machine (CI) runs it too.

Usage: python benchmarks/gpu_env.py [--json benchmarks/results/gpu_env-gpu.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

NO_GPU = "no GPU: skipping pytest -m gpu and the GPU benchmarks"


def run_text(command: list[str]) -> str | None:
    """A command's stdout, or None when it is missing or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return done.stdout


def cuda_major(text: str | None) -> int | None:
    """'12.4' -> 12; None stays None. CUDA's minor-version compatibility means a build for
    12.x runs on any driver that supports 12.0 or later, so only majors are compared."""
    numbers = re.findall(r"\d+", str(text or ""))
    return int(numbers[0]) if numbers else None


def driver_facts() -> dict:
    """nvidia-smi's GPU name, driver and the newest CUDA the driver supports."""
    query = run_text(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                      "--format=csv,noheader"])  # fmt: skip
    if not query:
        return {"nvidia_smi": None}
    name, driver, memory = (field.strip() for field in query.splitlines()[0].split(","))
    banner = run_text(["nvidia-smi"]) or ""
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    return {"nvidia_smi": name, "driver": driver, "memory": memory,
            "driver_cuda": cuda.group(1) if cuda else None}  # fmt: skip


def torch_facts() -> dict:
    import torch

    facts = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
             "cuda_available": torch.cuda.is_available()}  # fmt: skip
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        facts.update(
            gpu=torch.cuda.get_device_name(0),
            capability=f"sm_{major}{minor}",
            torch_arch_list=torch.cuda.get_arch_list(),
            cudnn=torch.backends.cudnn.version(),
            bf16=torch.cuda.is_bf16_supported(),
        )
    return facts


def dali_facts() -> dict:
    try:
        import nvidia.dali
        from nvidia.dali import backend
    except Exception as error:  # noqa: BLE001 (any import failure is the fact to report)
        return {"dali": None, "dali_error": f"{type(error).__name__}: {error}"}
    # the CUDA it was built with, e.g. 13492 for a 13.x toolkit; only the major matters here
    cuda = int(backend.__cuda_version__)
    return {"dali": nvidia.dali.__version__, "dali_cuda": str(cuda // 1000),
            "dali_cuda_build": cuda}  # fmt: skip


def faiss_facts() -> dict:
    try:
        import faiss
    except Exception as error:  # noqa: BLE001
        return {"faiss": None, "faiss_error": f"{type(error).__name__}: {error}"}
    return {"faiss": faiss.__version__, "faiss_gpus": faiss.get_num_gpus(),
            "faiss_gpu_build": hasattr(faiss, "StandardGpuResources")}  # fmt: skip


def package_versions() -> dict:
    versions = {}
    for name in ("webdataset", "accelerate", "safetensors", "torchvision", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def fit_checks(facts: dict) -> list[tuple[str, str]]:
    """(status, line) per check: does each piece run on this driver and GPU?"""
    checks = []
    if not facts.get("cuda_available"):
        return [("-", NO_GPU)]
    driver_cuda = cuda_major(facts.get("driver_cuda"))

    def supports(built: str | None, what: str) -> None:
        needed = cuda_major(built)
        if needed is None or driver_cuda is None:
            checks.append(("-", f"{what}: CUDA {built}, driver CUDA {facts.get('driver_cuda')}"))
            return
        ok = driver_cuda >= needed
        checks.append(("ok" if ok else "PROBLEM",
                       f"{what} built for CUDA {built}; the driver supports up to "
                       f"{facts['driver_cuda']}" + ("" if ok else ": update the driver")))  # fmt: skip

    supports(facts.get("torch_cuda"), "torch")
    arch = facts.get("capability")
    known = facts.get("torch_arch_list") or []
    checks.append(("ok" if arch in known else "PROBLEM",
                   f"torch kernels for this GPU ({arch}): {'yes' if arch in known else 'no'}"))  # fmt: skip
    if facts.get("dali"):
        supports(facts.get("dali_cuda"), f"DALI {facts['dali']}")
    else:
        checks.append(("PROBLEM", f"DALI does not import ({facts.get('dali_error')})"))
    if facts.get("faiss") is None:
        checks.append(("PROBLEM", f"faiss does not import ({facts.get('faiss_error')})"))
    elif facts.get("faiss_gpu_build"):
        gpus = facts.get("faiss_gpus", 0)
        checks.append(("ok" if gpus else "PROBLEM", f"faiss-gpu sees {gpus} GPU(s)"))
    else:
        checks.append(("-", "faiss is a CPU build (palettes use faiss-cpu or torch)"))
    return checks


def environment_report() -> dict:
    facts = {**driver_facts(), **torch_facts(), **dali_facts(), **faiss_facts(),
             **package_versions()}  # fmt: skip
    facts["checks"] = [f"{status}: {line}" for status, line in fit_checks(facts)]
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = environment_report()
    for key, value in report.items():
        if key != "checks":
            print(f"{key:>18}: {value}")
    print("checks:")
    for line in report["checks"]:
        print(f"  {line}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
