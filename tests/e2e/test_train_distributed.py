"""Training started as users start it: 2 CPU processes (gloo) under `torchrun`, and `accelerate launch`.

Under torchrun each rank writes the sample keys it trained on and hashes of its weights (`--audit-ranks`):
the ranks must have read disjoint data and must hold identical weights after the steps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ACCELERATE, ENVIRONMENT, TORCHRUN, tiny_run_flags

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_ranks_read_disjoint_data_and_hold_identical_weights(shard_dir, tmp_path):
    run = tmp_path / "run"
    steps, batch_size = 3, 2
    command = [
        *TORCHRUN,
        "-m",
        "sketchcolor.train",
        *tiny_run_flags(shard_dir, run, steps, batch_size),
    ]
    command.append("--audit-ranks")
    result = subprocess.run(
        command, cwd=tmp_path, env=ENVIRONMENT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 process(es) on cpu" in result.stdout + result.stderr

    audits = [json.loads((run / "audit" / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    assert [audit["world_size"] for audit in audits] == [2, 2]
    keys = [audit["keys"] for audit in audits]
    assert all(len(rank_keys) == steps * batch_size for rank_keys in keys)
    assert all(key.startswith("train_") for rank_keys in keys for key in rank_keys)
    assert not set(keys[0]) & set(keys[1]), "the ranks trained on the same samples"
    assert audits[0]["generator_sha256"] == audits[1]["generator_sha256"]
    assert audits[0]["discriminator_sha256"] == audits[1]["discriminator_sha256"]

    checkpoint = run / "checkpoints" / f"step-{steps}"
    assert {"random_states_0.pkl", "random_states_1.pkl", "progress.json"} <= {
        path.name for path in checkpoint.iterdir()
    }
    assert (
        json.loads((checkpoint / "progress.json").read_text())["images_seen"]
        == steps * batch_size * 2
    )
    assert (
        json.loads((run / "config.json").read_text())["in_channels"] == 30
    )  # sketch + 9 palette planes


@pytest.mark.slow
def test_accelerate_launch_takes_the_cpu_from_the_config_file_and_precision_from_the_cpu(
    shard_dir, tmp_path
):
    """launch/cpu.yaml names no precision: bf16 where the CPU runs it natively, else fp32."""
    from sketchcolor.training.accelerators import cpu_has_native_bf16

    # The launched process sees this process's CPU and environment (ATEN_CPU_CAPABILITY, ...).
    expected = "bf16 (auto: this CPU runs bf16 natively)" if cpu_has_native_bf16() else "no (auto:"
    run = tmp_path / "run"
    command = [
        *ACCELERATE, "--config_file", str(REPO / "launch/cpu.yaml"), "-m", "sketchcolor.train",
        *tiny_run_flags(shard_dir, run, steps=2, batch_size=2),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, env=ENVIRONMENT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"1 process(es) on cpu, mixed precision {expected}" in result.stdout + result.stderr
    assert json.loads((run / "checkpoints/step-2/progress.json").read_text())["step"] == 2
    saved = json.loads((run / "train_config.json").read_text())["optim"]["mixed_precision"]
    assert saved == expected.split()[0]
