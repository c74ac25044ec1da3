"""Fault injection in shard writing and reading: kills, stop signals, a second writer, damaged
tars, a broken manifest and a full disk (while sharding and while checkpointing). No good pair
or finished step is lost and the user sees one line."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from sketchcolor.data.shards.verify import verify_shards
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.checkpoints.state import list_checkpoints
from tests.support.processes import (
    ENVIRONMENT,
    assert_one_line_error,
    damage,
    run,
    sketchcolor,
    step_of,
    train_flags,
    train_module,
)
from tests.support.sizes import SHARD_SIZE


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
