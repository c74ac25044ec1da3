"""The node's cache of s3:// shards kept under a size bound, and the locks its users share.

data/storage/s3.py stages tars into cache folders (ROOT/BUCKET/PREFIX); this module knows only
those local files, not URLs:

- `file_lock(folder, tar)`: the per-tar flock (`.TAR.lock`) a fetch holds exclusively and a
  cached tar's check holds shared, so an eviction never deletes a tar between the check and
  the open;
- `lease(folder).add(tar)`: a process that stages or opens a tar names it, before it looks at
  it, in its own lease file `FOLDER/.in-use/PID-XXXXXXXX` (appended to only: `TAR` when it
  takes one, `-TAR` when it lets one go), which it holds an flock on for its whole life (the
  kernel drops it when the process dies, so a killed run pins nothing);
- `keep_under(root, max_bytes)`: while the verified tars under ROOT take more than `max_bytes`,
  delete the least recently used one (its `.TAR.ok` marker's mtime, touched by each process
  that opens it) that no live lease names, with its marker; its `.idx` stays (the loaders list
  samples from it). A tar evicted is fetched and verified again when it is next needed. Tars
  in use are never deleted, so a run whose tars alone exceed the bound keeps them (it says so
  once) and the cache shrinks when the run ends and the next fetch happens.

Usage: keep_under(Path("/mnt/nvme/sketchcolor-shards"), max_bytes=500 * 10**9)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

LEASE_FOLDER = ".in-use"
GB = 10**9

_leases: dict[tuple[int, str], Lease] = {}  # (pid, folder) -> this process's lease
_warned: set[str] = set()  # cache roots already reported over their bound by this process


def marker_path(folder: Path, tar: str) -> Path:
    """The `.TAR.ok` marker of a verified tar (data/storage/s3.py writes it)."""
    return folder / f".{tar}.ok"


@contextlib.contextmanager
def file_lock(folder: Path, tar: str, *, shared: bool = False, wait: bool = True):
    """An flock on FOLDER/.TAR.lock (exclusive unless `shared`); yields False instead of
    waiting when `wait` is False and another process holds it. Dropped when the holder dies."""
    with open(folder / f".{tar}.lock", "a") as handle:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, mode)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Lease:
    """The tars of one cache folder this process uses, in a file it holds an exclusive flock
    on and only appends to, so a reader never sees a name it holds go missing."""

    def __init__(self, folder: Path) -> None:
        leases = folder / LEASE_FOLDER
        leases.mkdir(exist_ok=True)
        self.path = leases / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.names: set[str] = set()
        self._handle = open(self.path, "a")  # noqa: SIM115 (held for the process's life)
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def add(self, tar: str) -> None:
        if tar not in self.names:
            self._handle.write(f"{tar}\n")
            self._handle.flush()  # on disk before the caller looks at the tar
            self.names.add(tar)

    def remove(self, tar: str) -> None:
        if tar in self.names:
            self._handle.write(f"-{tar}\n")
            self._handle.flush()
            self.names.discard(tar)


def lease(folder: Path) -> Lease:
    """This process's lease on `folder` (a forked child starts its own)."""
    key = (os.getpid(), str(folder))
    if key not in _leases:
        tars_in_use(folder)  # sweeps the leases of processes that have ended
        _leases[key] = Lease(folder)
    return _leases[key]


def tars_in_use(folder: Path) -> set[str]:
    """The tars of `folder` that live processes hold leases on; dead processes' leases go."""
    names: set[str] = set()
    leases = folder / LEASE_FOLDER
    for path in leases.iterdir() if leases.is_dir() else ():
        try:
            with open(path) as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:  # its owner (or a child it forked) is alive
                    names |= leased_names(handle.read())
                    continue
                path.unlink(missing_ok=True)  # its owner died: nothing it named is in use
        except FileNotFoundError:
            continue
    return names


def leased_names(text: str) -> set[str]:
    """The names a lease holds now: each whole line takes one, `-NAME` lets it go (a last line
    still being written is not counted: its writer has not looked at that tar yet)."""
    names: set[str] = set()
    for line in text.split("\n")[:-1]:
        if line.startswith("-"):
            names.discard(line[1:])
        elif line:
            names.add(line)
    return names


def touch(folder: Path, tar: str) -> None:
    """Mark a cached tar as used now (its marker's mtime orders the eviction; set to the
    nanosecond, as the file system's own clock may be a few milliseconds coarse)."""
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(marker_path(folder, tar), ns=(now, now))


@dataclass
class CachedTar:
    folder: Path
    name: str
    bytes: int
    last_used_ns: int


def cached_tars(root: Path) -> list[CachedTar]:
    """Every verified tar under ROOT (one `.TAR.ok` marker beside its tar), oldest use first."""
    found = []
    for marker in root.rglob(".*.ok") if root.is_dir() else ():
        name = marker.name[1 : -len(".ok")]
        try:
            used, size = marker.stat().st_mtime_ns, (marker.parent / name).stat().st_size
        except OSError:
            continue
        found.append(CachedTar(marker.parent, name, size, used))
    return sorted(found, key=lambda tar: tar.last_used_ns)


def keep_under(root: Path, max_bytes: int) -> list[Path]:
    """Evict least recently used verified tars under ROOT that nothing uses until they take
    at most `max_bytes`; returns the tars deleted (see the module docstring)."""
    tars = cached_tars(root)
    total = sum(tar.bytes for tar in tars)
    evicted = []
    for tar in tars:
        if total <= max_bytes:
            break
        # Under the tar's exclusive lock: nobody is fetching or checking it, and a process that
        # leases it from now on checks it after this and finds it gone.
        with file_lock(tar.folder, tar.name, wait=False) as locked:
            if not locked or tar.name in tars_in_use(tar.folder):
                continue
            marker_path(tar.folder, tar.name).unlink(missing_ok=True)  # first: never a marker
            (tar.folder / tar.name).unlink(missing_ok=True)  # without its tar
            (tar.folder / f".{tar.name}.partial").unlink(missing_ok=True)  # a dead fetch's
        total -= tar.bytes
        evicted.append(tar.folder / tar.name)
    if total > max_bytes and str(root) not in _warned:
        _warned.add(str(root))
        print(
            f"sketchcolor: the shard cache {root} holds {total / GB:.2f} GB of verified tars in "
            f"use, over its bound of {max_bytes / GB:.2f} GB (--shard-cache-max-gb); tars in use "
            "are kept, the cache shrinks when they are no longer used",
            file=sys.stderr,
        )
    return evicted
