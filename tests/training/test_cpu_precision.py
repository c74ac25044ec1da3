"""The mixed precision a CPU run chooses: bf16 only where the CPU runs it natively, else fp32.

The CPU's capability is mocked at the one function that reads it (`cpu_has_native_bf16`), so
both kinds of CPU are checked on any machine; the speed itself is benchmarks/bench_train.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sketchcolor.config import TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.train import train
from sketchcolor.training import accelerators
from sketchcolor.training.accelerators import launcher_precision, resolve_mixed_precision
from sketchcolor.training.presets import tiny_config

REPO = Path(__file__).resolve().parents[2]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]


@pytest.fixture
def native_bf16(monkeypatch):
    """`native_bf16(True)`: from now on this test's CPU runs bf16 natively (False: emulates it)."""

    def set_native(native: bool) -> None:
        monkeypatch.setattr(accelerators, "cpu_has_native_bf16", lambda: native)

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    return set_native


@pytest.mark.parametrize("requested", [None, "auto"])
def test_auto_chooses_bf16_only_on_a_cpu_that_runs_it_natively(native_bf16, requested):
    native_bf16(True)
    native = resolve_mixed_precision(requested, on_cpu=True)
    assert (native.mode, native.source, native.warning) == (
        "bf16", "auto: this CPU runs bf16 natively", None
    )  # fmt: skip
    native_bf16(False)
    emulated = resolve_mixed_precision(requested, on_cpu=True)
    assert (emulated.mode, emulated.source, emulated.warning) == (
        "no", "auto: this CPU has no native bf16", None
    )  # fmt: skip
    assert emulated.describe() == "no (auto: this CPU has no native bf16)"
    # On a GPU auto stays fp32 whatever the CPU: only a flag or the launcher asks for bf16 there.
    native_bf16(True)
    assert resolve_mixed_precision(requested, on_cpu=False).mode == "no"


def test_the_command_line_takes_auto_and_a_config_refuses_other_names():
    from sketchcolor.cli.train import parse_train_config

    flags = ["--data", "s", "--out", "r"]
    assert parse_train_config([*flags, "--mixed-precision", "auto"]).optim.mixed_precision == "auto"
    assert parse_train_config(flags).optim.mixed_precision is None
    with pytest.raises(SketchcolorError, match="unknown mixed precision 'fp32'"):
        TrainConfig.from_flat(data="s", out="r", mixed_precision="fp32")


def test_explicit_bf16_on_a_cpu_without_native_bf16_runs_with_a_warning_naming_the_cost(
    native_bf16,
):
    native_bf16(False)
    choice = resolve_mixed_precision("bf16", on_cpu=True)
    assert (choice.mode, choice.source) == ("bf16", "--mixed-precision")
    assert "\n" not in choice.warning
    assert "4.5x slower than fp32" in choice.warning
    assert "3.3 vs 14.8 img/s" in choice.warning and "--mixed-precision no" in choice.warning
    # No warning where bf16 is native, nor for fp32 or on a GPU.
    assert resolve_mixed_precision("no", on_cpu=True).warning is None
    assert resolve_mixed_precision("bf16", on_cpu=False).warning is None
    native_bf16(True)
    assert resolve_mixed_precision("bf16", on_cpu=True).warning is None


def test_accelerate_launch_precision_is_explicit_and_its_default_no_is_not(
    native_bf16, monkeypatch
):
    native_bf16(True)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    fp16 = resolve_mixed_precision(None, on_cpu=True, launcher=launcher_precision())
    assert (fp16.mode, fp16.source) == ("fp16", "accelerate launch's config")
    native_bf16(False)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    bf16 = resolve_mixed_precision("auto", on_cpu=True, launcher=launcher_precision())
    assert (bf16.mode, bf16.source) == ("bf16", "accelerate launch's config")
    assert "4.5x slower" in bf16.warning
    # The run's own flag beats the launcher's.
    assert resolve_mixed_precision("no", on_cpu=True, launcher="bf16").mode == "no"
    # accelerate launch passes "no" when nothing asks for a precision: auto still chooses.
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert launcher_precision() is None
    native_bf16(True)
    assert resolve_mixed_precision(None, on_cpu=True, launcher=launcher_precision()).mode == "bf16"
    with pytest.raises(SketchcolorError, match="accelerate launch asks for mixed precision 'fp8'"):
        resolve_mixed_precision(None, on_cpu=True, launcher="fp8")


def test_a_resumed_run_keeps_its_recorded_precision_unless_asked_otherwise(native_bf16):
    native_bf16(True)
    resumed = resolve_mixed_precision(None, on_cpu=True, recorded="no")
    assert (resumed.mode, resumed.source) == ("no", "the resumed run's")
    assert resolve_mixed_precision("bf16", on_cpu=True, recorded="no").mode == "bf16"
    assert resolve_mixed_precision(None, on_cpu=True, launcher="fp16", recorded="no").mode == "fp16"
    native_bf16(False)
    assert "4.5x slower" in resolve_mixed_precision(None, on_cpu=True, recorded="bf16").warning


LAUNCHED_PRECISION = """
from sketchcolor.training.accelerators import launcher_precision
print("launcher precision:", launcher_precision())
"""


@pytest.mark.parametrize(
    ("yaml_line", "expected"), [("", "None"), ("mixed_precision: bf16", "bf16")]
)
def test_the_accelerate_config_file_s_precision_reaches_the_run(tmp_path, yaml_line, expected):
    """launch/cpu.yaml names no precision, so the run chooses; one that names bf16 is obeyed."""
    config = tmp_path / "cpu.yaml"
    config.write_text((REPO / "launch/cpu.yaml").read_text() + yaml_line + "\n")
    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED_PRECISION)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    environment.pop("ACCELERATE_MIXED_PRECISION", None)
    result = subprocess.run(
        [*ACCELERATE, "--config_file", str(config), str(script)], cwd=tmp_path,
        env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"launcher precision: {expected}\n" in result.stdout


def saved_precision(run: Path) -> str:
    return json.loads((run / "train_config.json").read_text())["optim"]["mixed_precision"]


def tiny_run(shard_dir: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(model="1", batch_size=2, save_every=1, sample_every=0, log_every=1,
                    mixed_precision=None)  # fmt: skip
    return tiny_config(shard_dir, out, **{**settings, **overrides})


def first_line(captured: str) -> str:
    return next(line for line in captured.splitlines() if line.startswith("sketchcolor train:"))


def test_train_says_and_records_its_choice_and_a_resume_keeps_it(
    shard_dir, tmp_path, native_bf16, capsys
):
    native_bf16(False)
    run = tmp_path / "run"
    config = tiny_run(shard_dir, run, max_steps=1)
    train(config)
    assert config.optim.mixed_precision is None  # the caller's config is left as it was
    assert "mixed precision no (auto: this CPU has no native bf16)" in first_line(
        capsys.readouterr().out
    )
    assert saved_precision(run) == "no"

    # Resumed where bf16 would be native: the run goes on in the precision it started in.
    native_bf16(True)
    train(tiny_run(shard_dir, run, max_steps=2, resume=True))
    line = first_line(capsys.readouterr().out)
    assert "mixed precision no (the resumed run's)" in line and "resuming at step 1" in line
    assert saved_precision(run) == "no"
    assert json.loads((run / "checkpoints/step-2/progress.json").read_text())["step"] == 2

    # A fresh run there chooses bf16 and records it; explicit bf16 on an emulating CPU warns.
    native = tmp_path / "native"
    train(tiny_run(shard_dir, native, max_steps=1))
    assert "mixed precision bf16 (auto: this CPU runs bf16 natively)" in first_line(
        capsys.readouterr().out
    )
    assert saved_precision(native) == "bf16"
    native_bf16(False)
    train(tiny_run(shard_dir, tmp_path / "asked", max_steps=1, mixed_precision="bf16"))
    lines = capsys.readouterr().out.splitlines()
    start = lines.index(first_line("\n".join(lines)))
    assert "mixed precision bf16 (--mixed-precision)" in lines[start]
    assert lines[start + 1].startswith("sketchcolor train: warning: bf16 is emulated on this CPU")
