"""Checkpoints of a run: atomic Accelerate state folders `checkpoints/step-N/`, the last K kept.

A checkpoint is first written to `checkpoints/.partial-step-N/` by every process (Accelerate
saves weights and optimizers from the main process and RNG states from each), then renamed to
`step-N` in one `os.replace`. A crash mid-save leaves only a `.partial-` folder, which is ignored
and cleaned up, so the newest `step-N` is always complete. `progress.json` inside it holds the
step and the data position, which is what `--resume` continues from (runs.py reads and writes
it: `TrainingProgress`, `read_progress`, `write_progress`).

Usage: path = save_checkpoint(accelerator, run_dir / "checkpoints", progress, keep=3)
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import (
    CHECKPOINT_GENERATOR_FILE,
    CHECKPOINT_PREFIX,
    CHECKPOINT_PROGRESS_FILE,
    TrainingProgress,
    read_progress,
    write_progress,
)
from sketchcolor.util.disk import write_errors

# The folder names are runs.py's, which evaluation reads checkpoints by.
PREFIX = CHECKPOINT_PREFIX
PARTIAL_PREFIX = ".partial-"
PROGRESS_FILE = CHECKPOINT_PROGRESS_FILE
_STEP_PATTERN = re.compile(rf"^{PREFIX}(\d+)$")


def checkpoint_folder(checkpoints: Path, step: int) -> Path:
    return checkpoints / f"{PREFIX}{step}"


def list_checkpoints(checkpoints: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (step, folder), oldest first; partial or foreign folders are skipped."""
    if not checkpoints.is_dir():
        return []
    found = []
    for folder in checkpoints.iterdir():
        match = _STEP_PATTERN.match(folder.name)
        if match and is_complete(folder):
            found.append((int(match.group(1)), folder))
    return sorted(found)


def is_complete(folder: Path) -> bool:
    """True when the folder holds a readable progress.json and the model weights."""
    try:
        read_progress(folder)
    except SketchcolorError:
        return False
    return (folder / CHECKPOINT_GENERATOR_FILE).is_file() or (
        folder / "pytorch_model.bin"
    ).is_file()


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    found = list_checkpoints(checkpoints)
    return found[-1][1] if found else None


def save_checkpoint(
    accelerator, checkpoints: Path, progress: TrainingProgress, *, keep: int
) -> Path:
    """Save the Accelerate state atomically as `step-N`, then delete all but the newest `keep`.

    Every process must call this (Accelerate writes one RNG file per process).
    """
    final = checkpoint_folder(checkpoints, progress.step)
    partial = checkpoints / f"{PARTIAL_PREFIX}{final.name}"
    previous = latest_checkpoint(checkpoints)
    safe = (
        f"the last good checkpoint is {previous} (continue with --resume once there is space)"
        if previous is not None
        else "no checkpoint of this run was written before"
    )
    try:
        with write_errors(partial, safe=safe):
            _save_partial(accelerator, partial, progress)
    except SketchcolorError:
        shutil.rmtree(partial, ignore_errors=True)  # a failed write: free the space it took
        raise
    if accelerator.is_main_process:
        if final.exists():  # an older run's step-N (e.g. a restart from scratch with --resume off)
            shutil.rmtree(final)
        os.replace(partial, final)  # the commit point: step-N appears complete or not at all
        rotate_checkpoints(checkpoints, keep=keep)
    accelerator.wait_for_everyone()
    return final


def _save_partial(accelerator, partial: Path, progress: TrainingProgress) -> None:
    """Every process writes its part of the Accelerate state into `partial`."""
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_progress(partial, progress)


def rotate_checkpoints(checkpoints: Path, *, keep: int) -> list[Path]:
    """Delete all complete checkpoints but the newest `keep`; returns the deleted folders."""
    found = list_checkpoints(checkpoints)
    deleted = [folder for _, folder in found[: max(len(found) - keep, 0)]]
    for folder in deleted:
        shutil.rmtree(folder)
    return deleted


def remove_partial_checkpoints(checkpoints: Path) -> None:
    """Delete folders left by saves that crashed half-way (main process only)."""
    if checkpoints.is_dir():
        for folder in checkpoints.glob(f"{PARTIAL_PREFIX}*"):
            shutil.rmtree(folder, ignore_errors=True)
