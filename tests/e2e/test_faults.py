"""Fault injection: kills, signals, damaged shards, a broken manifest and a full disk.

Each test asserts that no good pair or finished step is lost and that the user sees one line
(no traceback). Runs are tiny (width 1/16, a handful of steps) to keep the CPU time modest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sketchcolor.data.shards.verify import verify_shards
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.checkpoints.state import TrainingProgress, list_checkpoints
from tests.conftest import SHARD_SIZE

ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


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


# ----------------------------------------------------------------------------- signals


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


# ----------------------------------------------------------------------------- shards


def shard_command(source: Path, out: Path, workers: int = 1) -> list[str]:
    return sketchcolor(
        "shards", str(source), str(out), "--shard-size", str(SHARD_SIZE), "--workers", str(workers)
    )


def shard_hashes(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        shard["tar"]: shard["sha256"]
        for split in manifest["splits"].values()
        for shard in split["shards"]
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_during_shards_with_workers_leaves_no_writer_and_loses_no_pair(
    synth_root, shard_dir, tmp_path, seed
):
    out = tmp_path / "shards"
    process = subprocess.Popen(shard_command(synth_root, out, workers=2), env=ENVIRONMENT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
        workers = psutil.Process(process.pid).children(recursive=True)
        time.sleep(0.05)
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    process.kill()
    process.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived their parent: {alive}"

    finished = run(shard_command(synth_root, out, workers=2), tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert shard_hashes(out) == shard_hashes(shard_dir)  # every pair, byte for byte
    assert verify_shards(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_to_shards_gives_one_line_and_leaves_no_worker(
    synth_root, shard_dir, tmp_path, number
):
    out = tmp_path / "shards"
    process = subprocess.Popen(shard_command(synth_root, out, workers=2), env=ENVIRONMENT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
        workers = psutil.Process(process.pid).children(recursive=True)
        time.sleep(0.05)
    assert len(workers) >= 2, process.communicate()
    os.killpg(process.pid, number)  # as a terminal's Ctrl-C: every process of the group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + number
    assert_one_line_error(
        stderr, f"stopped by {signal.Signals(number).name}", "re-run the same command"
    )
    # Nor a worker's traceback, nor multiprocessing's warning about the pool's semaphores.
    assert "KeyboardInterrupt" not in stderr and "Warning" not in stderr, stderr
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived their parent: {alive}"

    finished = run(shard_command(synth_root, out, workers=2), tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert shard_hashes(out) == shard_hashes(shard_dir)


def test_a_second_shards_into_the_same_folder_is_refused(synth_root, tmp_path):
    from sketchcolor.data.shards.guard import folder_lock
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards

    out = tmp_path / "shards"
    with folder_lock(out), pytest.raises(SketchcolorError, match="another `sketchcolor shards`"):
        prepare_shards(synth_root, out, ShardConfig(shard_size=SHARD_SIZE), progress=False)
    assert [path.name for path in out.iterdir()] == [".lock"]


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 3] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_shards_are_named_refused_and_rewritten(synth_root, shard_dir, tmp_path, how):
    out = tmp_path / "shards"
    shutil.copytree(shard_dir, out)
    bad = out / "train-000001.tar"
    damage(bad, how)

    checked = run(sketchcolor("verify", str(out)), tmp_path)
    assert checked.returncode == 1
    assert f"bad shard {bad}:" in checked.stdout and checked.stdout.count("bad shard") == 1

    run_dir = tmp_path / "run"
    refused = run(sketchcolor("train", *train_flags(out, run_dir, steps=1)), tmp_path)
    assert refused.returncode == 2
    assert_one_line_error(refused.stderr, str(bad), "re-run `sketchcolor shards`")
    assert not run_dir.exists(), "a refused run must leave no folder behind"

    rewritten = run(shard_command(synth_root, out), tmp_path)
    assert rewritten.returncode == 0, rewritten.stderr[-3000:]
    assert "already complete" not in rewritten.stdout
    assert shard_hashes(out) == shard_hashes(shard_dir)
    assert run(sketchcolor("verify", str(out)), tmp_path).returncode == 0


def test_verification_is_cached_until_the_file_changes(shard_dir, tmp_path, monkeypatch):
    import sketchcolor.data.shards.check as shard_check

    monkeypatch.setenv("SKETCHCOLOR_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "shards"
    shutil.copytree(shard_dir, out)
    hashed = []
    original = shard_check.file_sha256
    monkeypatch.setattr(
        shard_check, "file_sha256", lambda path: hashed.append(path) or original(path)
    )
    assert verify_shards(out) == [] and len(hashed) == 6
    assert verify_shards(out) == [] and len(hashed) == 6  # nothing hashed again
    damage(out / "val-000000.tar", "flip")  # same size, new mtime
    problems = verify_shards(out)
    assert [problem.tar.name for problem in problems] == ["val-000000.tar"]


def test_a_malformed_manifest_is_named_in_one_line(shard_dir, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(shard_dir, out)
    (out / "manifest.json").write_text('{"splits": {"train": ')
    checked = run(sketchcolor("verify", str(out)), tmp_path)
    assert checked.returncode == 2
    assert_one_line_error(checked.stderr, f"{out / 'manifest.json'}: not a readable manifest")
    refused = run(sketchcolor("train", *train_flags(out, tmp_path / "run", steps=1)), tmp_path)
    assert refused.returncode == 2
    assert_one_line_error(refused.stderr, "manifest.json")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs; skipped where the sandbox may not mount."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
            capture_output=True, text=True,
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("no mount command on this machine")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_while_sharding_says_so_in_one_line_and_keeps_finished_shards(
    synth_root, shard_dir, small_disk, tmp_path
):
    subprocess.run(["mount", "-o", "remount,size=200k", str(small_disk)], check=True)
    out = small_disk / "shards"
    full = run(shard_command(synth_root, out), tmp_path)
    assert full.returncode == 2
    assert_one_line_error(full.stderr, "the disk is full", "re-run the same command")
    kept = sorted(path.name for path in out.glob("*.tar"))
    assert kept, "the shards finished before the disk filled up must be kept"

    subprocess.run(["mount", "-o", "remount,size=2m", str(small_disk)], check=True)
    finished = run(shard_command(synth_root, out), tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert shard_hashes(out) == shard_hashes(shard_dir)


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_names_the_last_good_checkpoint(
    shard_dir, small_disk, tmp_path
):
    subprocess.run(["mount", "-o", "remount,size=3500k", str(small_disk)], check=True)
    run_dir = small_disk / "run"
    full = run(train_module(*train_flags(shard_dir, run_dir, steps=3, save_every=1)), tmp_path)
    assert full.returncode == 2
    line = assert_one_line_error(full.stderr, "the disk is full", "the last good checkpoint is")
    saved = list_checkpoints(run_dir / "checkpoints")
    assert saved and str(saved[-1][1]) in line
    assert step_of(saved[-1][1]) == saved[-1][0]
    assert not list((run_dir / "checkpoints").glob(".partial-*")), "the half save must be removed"


# ----------------------------------------------------------------------------- evaluate


def constant_run(folder: Path, value: float) -> Path:
    """A run folder whose Model 1 generator has every weight set to `value` (0: grey output)."""
    import torch

    from sketchcolor.models import create_generator, save_generator

    generator = create_generator("1", in_channels=3, width=1 / 16)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.fill_(value)
    save_generator(generator, folder, metadata={"color_control": "none", "image_size": 256})
    return folder


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_evaluate_checks_every_run_before_the_first_and_names_nan_weights(
    shard_dir, tmp_path, monkeypatch, no_inception
):
    import sketchcolor.evaluation.evaluate as evaluate

    good = constant_run(tmp_path / "good", 0.0)
    broken = constant_run(tmp_path / "broken", float("nan"))
    evaluated = []
    monkeypatch.setattr(
        evaluate, "evaluate_run", lambda run_dir, *a, **k: evaluated.append(run_dir)
    )
    with pytest.raises(SketchcolorError, match=r"broken: the generator's weights contain NaN/inf"):
        evaluate.evaluate_runs([good, broken], shard_dir, out_dir=tmp_path / "out", device="cpu")
    assert evaluated == [] and not (tmp_path / "out").exists()


def test_a_run_failing_during_evaluation_keeps_the_others_results(
    shard_dir, tmp_path, monkeypatch, no_inception
):
    import sketchcolor.evaluation.evaluate as evaluate

    first, second = constant_run(tmp_path / "first", 0.0), constant_run(tmp_path / "second", 0.0)
    original = evaluate.evaluate_run

    def fail_second(run_dir, *arguments, **options):
        if run_dir.name == "second":
            raise RuntimeError("decoder: unexpected end of data\nmore detail")
        return original(run_dir, *arguments, **options)

    monkeypatch.setattr(evaluate, "evaluate_run", fail_second)
    out = tmp_path / "out"
    payload = evaluate.evaluate_runs(
        [first, second], shard_dir, out_dir=out, device="cpu", backend="torch"
    )
    written = json.loads((out / "results.json").read_text())
    assert [run["run"] for run in written["runs"]] == [str(first)]
    assert written["runs"][0]["images"] == 8
    assert written["failed"] == [{"run": str(second), "error": "decoder: unexpected end of data"}]
    assert payload["failed"] == written["failed"]


def test_colorize_refuses_to_write_a_non_finite_output(tmp_path, monkeypatch):
    import numpy as np
    import torch
    from PIL import Image

    import sketchcolor.inference.colorize as colorize_module
    import sketchcolor.inference.engines as engines_module

    run_dir = constant_run(tmp_path / "run", 0.0)
    sketch = tmp_path / "sketch.png"
    Image.fromarray(np.full((256, 256, 3), 255, np.uint8)).save(sketch)
    # the torch engine's generator call (sketchcolor.inference.engines), which colorize goes through
    monkeypatch.setattr(
        engines_module, "generate", lambda *a, **k: torch.full((1, 3, 256, 256), float("nan"))
    )
    with pytest.raises(SketchcolorError, match="NaN/inf; nothing written"):
        colorize_module.colorize(sketch, run_dir, tmp_path / "out.png", device="cpu")
    assert not (tmp_path / "out.png").exists()


def test_evaluate_refuses_a_damaged_split_before_writing_anything(shard_dir, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(shard_dir, out)
    damage(out / "val-000001.tar", "flip")
    run_dir = constant_run(tmp_path / "grey", 0.0)
    evaluation = tmp_path / "evaluation"
    refused = run(
        sketchcolor("evaluate", str(run_dir), "--data", str(out), "--out", str(evaluation)),
        tmp_path,
    )
    assert refused.returncode == 2
    assert_one_line_error(refused.stderr, str(out / "val-000001.tar"), "sha256")
    assert not evaluation.exists()


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


# ----------------------------------------------------------------------------- user files


def test_bad_hints_json_is_one_line_naming_the_file(tmp_path):
    from sketchcolor.data.controls.user_controls import load_hints

    cases = {
        '{"width": 100, "labels": []}': 'hints: needs "height"',
        '[{"x": NaN, "y": 3, "color": "#ff0000"}]': 'hint 0: "x" must be a finite number',
        '{"width": 100, "height": 50, "labels": [{"x": 120, "y": 10, "color": "#ff0000"}]}': (
            "hint 0: (120, 10) is outside the 100x50 image"
        ),
        '{"labels": {"x": 1}}': "hints: expected a list of",
        '[{"x": 1, "y": 1, "color": "red"}]': "hint 0: 'red' is not a colour like #ff8800",
    }
    for number, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"hints-{number}.json"
        path.write_text(text)
        with pytest.raises(SketchcolorError) as caught:
            load_hints(path, size=(20, 40))
        assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    path.write_text(
        '{"width": 100, "height": 50, "labels": [{"x": 99.5, "y": 49.5, "color": "#ff0000"}]}'
    )
    assert load_hints(path, size=(20, 40)).mask.sum() > 0  # the last pixel is still inside


def test_a_sketch_over_the_pixel_limit_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    from sketchcolor.cli import main
    from sketchcolor.inference.colorize import read_sketch

    sketch = tmp_path / "big.png"
    Image.fromarray(np.full((100, 120), 255, np.uint8)).save(sketch)
    run_dir = constant_run(tmp_path / "run", 0.0)
    out = tmp_path / "out.png"
    arguments = ["colorize", str(sketch), "--run", str(run_dir), "-o", str(out), "--device", "cpu"]
    assert main([*arguments, "--max-pixels", "11999"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"sketchcolor colorize: error: {sketch}: 120x100 is 0.0 MP, over the limit of 11999 "
        "pixels (raise it with --max-pixels)"
    )
    assert not out.exists()
    # Pillow's own bomb check (an error at twice its limit) gives way to a raised --max-pixels.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_sketch(sketch, max_pixels=12000).shape == (1, 3, 100, 120)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert main([*arguments, "--max-pixels", "12000"]) == 0 and out.is_file()
