"""Fault injection in training: kills and stop signals (one process, a process group, one torchrun
rank, SLURM's time-limit warning). A saved step is never lost, resume continues from it, and
the user sees one line, no traceback. Runs are tiny (width 1/16, a handful of steps)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from sketchcolor.training.checkpoints.state import list_checkpoints
from tests.support.processes import (
    ENVIRONMENT,
    TORCHRUN,
    assert_one_line_error,
    run,
    start,
    step_of,
    train_flags,
    train_module,
    wait_until_training,
)


@pytest.mark.slow
def test_sigterm_saves_the_step_reached_and_resume_continues_from_it(shard_dir, tmp_path):
    run_dir = tmp_path / "run"
    process = start(train_module(*train_flags(shard_dir, run_dir, steps=500)), tmp_path)
    wait_until_training(run_dir, process)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM
    line = assert_one_line_error(stderr, "stopped by SIGTERM after step", "--resume")
    saved = list_checkpoints(run_dir / "checkpoints")
    assert len(saved) == 1, "the signal must save exactly the step it reached"
    step, folder = saved[0]
    assert step >= 1 and f"step {step};" in line and str(folder) in line
    assert step_of(folder) == step
    assert json.loads((run_dir / "config.json").read_text())["step"] == step  # exported too

    # An empty train_config.json (a kill mid-write before writes were atomic) must not block.
    (run_dir / "train_config.json").write_text("")
    resumed = run(
        train_module(*train_flags(shard_dir, run_dir, steps=step + 1), "--resume"), tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at step {step}" in resumed.stdout + resumed.stderr
    assert "rewriting it from this run's flags" in resumed.stdout
    assert json.loads((run_dir / "train_config.json").read_text())["optim"]["max_steps"] == step + 1
    assert step_of(run_dir / "checkpoints" / f"step-{step + 1}") == step + 1


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_saves_and_exits_with_one_line(
    shard_dir, tmp_path, stop_signal
):
    """Ctrl-C and SLURM signal every process, loader workers included: none may die first."""
    run_dir = tmp_path / "run"
    flags = train_flags(shard_dir, run_dir, steps=500)
    flags[flags.index("--num-workers") + 1] = "1"
    process = subprocess.Popen(
        train_module(*flags), cwd=tmp_path, env=ENVIRONMENT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    wait_until_training(run_dir, process)
    time.sleep(2)
    os.killpg(process.pid, stop_signal)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + stop_signal
    assert_one_line_error(stderr, f"stopped by {stop_signal.name}")
    assert "KeyboardInterrupt" not in stderr
    assert [step for step, _ in list_checkpoints(run_dir / "checkpoints")] >= [1]


@pytest.mark.slow
def test_sigkill_at_a_seeded_moment_loses_no_saved_step(shard_dir, tmp_path):
    run_dir = tmp_path / "run"
    process = start(train_module(*train_flags(shard_dir, run_dir, 500, save_every=1)), tmp_path)
    deadline = time.monotonic() + 300
    while not list_checkpoints(run_dir / "checkpoints"):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    time.sleep(random.Random(11).uniform(0.0, 3.0))  # anywhere in a step or a save
    process.kill()
    process.communicate()
    saved = list_checkpoints(run_dir / "checkpoints")
    assert saved, "no checkpoint after several steps with --save-every 1"
    last = saved[-1][0]
    assert all(step_of(folder) == step for step, folder in saved)
    resumed = run(train_module(*train_flags(shard_dir, run_dir, last + 1, 1), "--resume"), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at step {last}" in resumed.stdout + resumed.stderr


@pytest.mark.slow
def test_sigterm_to_one_torchrun_rank_stops_both_at_the_same_step(shard_dir, tmp_path):
    run_dir = tmp_path / "run"
    agent = start(
        [*TORCHRUN, "-m", "sketchcolor.train", *train_flags(shard_dir, run_dir, 500)], tmp_path
    )
    wait_until_training(run_dir, agent)
    workers = [
        child for child in psutil.Process(agent.pid).children(recursive=True)
        if "sketchcolor.train" in " ".join(child.cmdline())
    ]  # fmt: skip
    rank_one = next(w for w in workers if w.environ().get("RANK") == "1")
    time.sleep(2)
    rank_one.send_signal(signal.SIGTERM)  # only one rank is told: both must agree to stop
    _, stderr = agent.communicate(timeout=300)
    assert "stopped by SIGTERM after step" in stderr, stderr[-3000:]
    saved = list_checkpoints(run_dir / "checkpoints")
    assert len(saved) == 1
    step, folder = saved[0]
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in folder.iterdir()}
    resumed = run(
        [*TORCHRUN, "-m", "sketchcolor.train", *train_flags(shard_dir, run_dir, step + 1), "--resume"],
        tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at step {step}" in resumed.stdout + resumed.stderr
    assert step_of(run_dir / "checkpoints" / f"step-{step + 1}") == step + 1


def test_slurm_script_checkpoints_and_requeues_on_the_time_limit_warning(tmp_path):
    """SIGUSR1 to the batch shell -> SIGTERM to the job step, then a requeue of the job."""
    repo = Path(__file__).resolve().parents[2]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {
        "scontrol": '[ "$1" = show ] && printf "node-1\\n" || echo "scontrol $*"',
        "scancel": 'echo "scancel $*"',
        # The step: SLURM warns the batch shell, then the step ends as a stopped run does.
        "srun": "kill -USR1 $PPID; sleep 1; exit 143",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "SLURM_NNODES": "1",
        "SLURM_JOB_NODELIST": "node-1", "SLURM_JOB_ID": "42", "SLURM_SUBMIT_DIR": str(repo),
    }  # fmt: skip
    result = subprocess.run(
        ["bash", str(repo / "launch/slurm.sh"), "--data", "d", "--out", "o"],
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "scancel --signal=TERM 42.0" in lines
    assert lines[-1] == "scontrol requeue 42"
    assert lines.index("scancel --signal=TERM 42.0") < lines.index("scontrol requeue 42")


def test_stop_signals_set_a_flag_name_the_checkpoint_and_restore_the_handlers(tmp_path):
    from sketchcolor.training.checkpoints.preemption import StopSignals

    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals() as stop:
        assert not stop.should_stop()
        signal.raise_signal(signal.SIGUSR1)  # handled: the process goes on
        assert stop.should_stop()
        stopped = stop.stopped(7, tmp_path / "step-7")
    assert signal.getsignal(signal.SIGUSR1) is before
    assert stopped.exit_code == 128 + signal.SIGUSR1
    assert str(stopped) == (
        f"stopped by SIGUSR1 after step 7; checkpoint {tmp_path / 'step-7'} (continue with --resume)"
    )


def test_the_stop_flag_is_agreed_in_one_process_without_a_collective():
    from sketchcolor.training.checkpoints.preemption import StopSignals

    single = type("Accelerator", (), {"num_processes": 1})()
    stop = StopSignals(single)
    assert stop.should_stop() is False and stop.agreed is False
    stop.received = signal.SIGUSR1  # what the handler records
    assert stop.should_stop() is True
    assert stop.stopped(2, Path("c")).exit_code == 128 + signal.SIGUSR1
