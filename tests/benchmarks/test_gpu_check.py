"""benchmarks/gpu_check.sh on a CPU: argument handling, the environment report, the skip line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
SKIP_LINE = "no GPU: skipping pytest -m gpu and the GPU benchmarks"


def run_check(*arguments, tmp_path):
    environment = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "",
                   "GPU_CHECK_RESULTS": str(tmp_path / "results"),
                   "GPU_CHECK_SITE": str(tmp_path / "site")}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT), *map(str, arguments)], capture_output=True,
                          text=True, env=environment, timeout=300)  # fmt: skip


@pytest.mark.parametrize("arguments", [(), ("bogus",), ("env+tests",), ("bench", "extra")])
def test_bad_arguments_print_the_usage_and_exit_2(arguments, tmp_path):
    done = run_check(*arguments, tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: gpu_check.sh env+tests WHEELS_FOLDER | bench")


def test_a_missing_wheel_folder_is_named(tmp_path):
    done = run_check("env+tests", tmp_path / "nowhere", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"gpu_check.sh: {tmp_path / 'nowhere'}: no such folder of wheels"


def test_without_a_gpu_it_reports_the_environment_and_skips(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    done = run_check("env+tests", wheels, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"no .whl files in {wheels}; using what is installed" in done.stdout
    report = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines()
                  if line.startswith(" ") and ": " in line and not line.startswith("  -"))  # fmt: skip
    import torch

    assert report["torch"] == torch.__version__
    assert report["cuda_available"] == "False"
    assert done.stdout.rstrip().endswith(SKIP_LINE)
    assert not (tmp_path / "results" / "gpu_env-gpu.json").exists()  # no GPU, no GPU results

    bench = run_check("bench", tmp_path=tmp_path)
    assert bench.returncode == 0 and bench.stdout.rstrip().endswith(SKIP_LINE)


def test_fit_checks_flag_a_driver_older_than_the_builds():
    from benchmarks.gpu_env import fit_checks

    facts = {"cuda_available": True, "driver_cuda": "12.8", "torch_cuda": "13.0",
             "capability": "sm_90", "torch_arch_list": ["sm_80", "sm_90"], "dali": "2.4.0",
             "dali_cuda": "13", "faiss": "1.15.1", "faiss_gpu_build": True, "faiss_gpus": 1}  # fmt: skip
    checks = fit_checks(facts)
    assert checks[0] == ("PROBLEM", "torch built for CUDA 13.0; the driver supports up to 12.8: "
                                    "update the driver")  # fmt: skip
    assert checks[1] == ("ok", "torch kernels for this GPU (sm_90): yes")
    assert checks[2][0] == "PROBLEM" and checks[3] == ("ok", "faiss-gpu sees 1 GPU(s)")
    assert fit_checks({**facts, "driver_cuda": "13.1"})[0][0] == "ok"
    assert fit_checks({"cuda_available": False}) == [("-", SKIP_LINE)]


WHEELS_SCRIPT = REPO / "benchmarks" / "gpu_wheels.sh"


def write_tiny_wheel(folder: Path) -> None:
    """A pure-Python wheel `tinywheel` (VALUE = 7) padded with 14 kB of random bytes."""
    import zipfile

    folder.mkdir(parents=True)
    info = "tinywheel-1.0.dist-info"
    files = {
        "tinywheel/__init__.py": b"VALUE = 7\n",
        "tinywheel/padding.bin": os.urandom(14_000),  # incompressible
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: tinywheel\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]).encode()
    with zipfile.ZipFile(folder / "tinywheel-1.0-py3-none-any.whl", "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)


def cut_pieces(tmp_path: Path) -> Path:
    out = tmp_path / "whl"
    write_tiny_wheel(out / "wheels")
    done = subprocess.run(["bash", str(WHEELS_SCRIPT), "--pieces-only", str(out), "4K"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 wheels" in done.stdout and "in 5 pieces" in done.stdout  # tar pads to 20 kB
    return out


def test_wheels_cut_into_pieces_are_joined_and_installed(tmp_path):
    out = cut_pieces(tmp_path)
    pieces = sorted(path.relative_to(out).as_posix() for path in out.glob("carry-*/*"))
    assert pieces == [f"carry-0{n}/piece-0{n}" for n in range(5)]
    assert all((out / piece).stat().st_size == 4096 for piece in pieces)

    done = run_check("env", out, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"== joining 5 pieces from {out}" in done.stderr
    assert "== installing 1 wheels" in done.stdout
    site = tmp_path / "site"
    imported = subprocess.run([sys.executable, "-c", "import tinywheel; print(tinywheel.VALUE)"],
                              capture_output=True, text=True, env={**os.environ,
                              "PYTHONPATH": str(site)})  # fmt: skip
    assert imported.stdout == "7\n", imported.stderr


@pytest.mark.parametrize(
    ("removed", "message"),
    [(["carry-01"], "piece 01 is missing (4 found)"),
     (["carry-03", "carry-04"], "the 3 pieces are not a whole archive (the last one missing?)")],
)  # fmt: skip
def test_a_missing_piece_is_named_in_one_line(tmp_path, removed, message):
    import shutil

    out = cut_pieces(tmp_path)
    for folder in removed:
        shutil.rmtree(out / folder)
    done = run_check("env", out, tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"gpu_check.sh: {out}: {message}"
    assert not (tmp_path / "site").exists()  # nothing installed from a broken set
