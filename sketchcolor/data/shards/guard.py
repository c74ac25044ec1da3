"""Keep a shard folder consistent when `sketchcolor shards` is killed or started twice.

- `folder_lock`: one `shards` run per output folder at a time (an flock on OUT/.lock, which the
  kernel releases when the holder dies, so a killed run never leaves a stale lock);
- `die_with_parent`: a worker process is killed when its parent dies (Linux PR_SET_PDEATHSIG),
  so orphans never go on writing `.partial` files under a new run;
- `exit_on_stop_signals`: SIGINT or SIGTERM ends the run at once with one line (what a
  SIGKILL leaves is safe: finished shards are kept, a re-run completes the rest);
- `remove_damaged_shards`: a re-run over a finished folder drops the tars that fail
  verification, so they are written again.

Usage: with folder_lock(out): prepare...
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
from pathlib import Path

from sketchcolor.errors import SketchcolorError

LOCK_FILE = ".lock"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def folder_lock(out: Path):
    """Hold an exclusive lock on OUT/.lock; refuse at once when another run holds it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise SketchcolorError(
                f"{out}: another `sketchcolor shards` is writing into this folder "
                f"(it holds {path}); wait for it to finish or stop it first"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def exit_on_stop_signals(out: Path):
    """Within the block, SIGINT and SIGTERM print one line and exit with 128 + the signal."""

    def stop(number: int, frame) -> None:
        print(  # on a line of its own, below the progress bar
            f"\nsketchcolor shards: stopped by {signal.Signals(number).name}; the shards finished "
            f"so far in {out} are kept: re-run the same command to complete them",
            file=sys.stderr,
            flush=True,
        )
        os._exit(128 + number)  # the workers die with this process (die_with_parent)

    # multiprocessing's resource tracker, started with the workers under these warning flags,
    # still unlinks the pool's semaphores after the exit, but without a "leaked" warning.
    sys.warnoptions.append("ignore:resource_tracker:UserWarning")
    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.warnoptions.remove("ignore:resource_tracker:UserWarning")


@contextlib.contextmanager
def stop_signals_blocked():
    """Block SIGINT and SIGTERM while worker processes start: they inherit the block (so a
    Ctrl-C never interrupts one mid-import), and this process gets any held signal at the end."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (worker initializer).

    The worker ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group): its
    parent answers them, and the worker then dies with it, without a traceback of its own.
    It started with them blocked (`stop_signals_blocked`); one that came meanwhile is dropped.
    """
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl ran; then this process was re-parented already.
    if os.getppid() != parent_pid:
        os._exit(1)


def remove_damaged_shards(out: Path) -> list[str]:
    """Delete each tar (and its .idx) that fails verification; returns the tar names."""
    from sketchcolor.data.shards.verify import verify_shards

    damaged = []
    for problem in verify_shards(out):
        damaged.append(problem.tar.name)
        problem.tar.unlink(missing_ok=True)
        problem.tar.with_suffix(".idx").unlink(missing_ok=True)
    return damaged


def remember_written(manifest: dict, out: Path, names: set[str]) -> None:
    """Record the tars written just now as verified, so the next check need not hash them."""
    from sketchcolor.data.shards.verify import VerifiedCache, expected_record, manifest_shards

    cache = VerifiedCache.load()
    for entry in manifest_shards(manifest):
        if entry["tar"] in names:
            cache.remember(out / entry["tar"], out / entry["idx"], expected_record(entry))
    cache.save()
