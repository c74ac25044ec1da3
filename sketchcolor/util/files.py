"""File helpers shared by every stage: whole-or-nothing writes, output folders, content hashes.

A reader must never see half a manifest, half a picture or half a results table, so every
file is written to a temporary name beside its target and renamed into place (a rename is
atomic on POSIX); `atomic_output` is that pattern, written once.

Usage:
    with atomic_output(out / "grid.png") as temporary:
        image.save(temporary)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from sketchcolor.errors import SketchcolorError


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, so writers pick the format) that becomes
    `path` with one rename when the block succeeds, and is removed when it fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all."""
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks so large shards never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_output_folder(folder: Path, *, what: str = "output folder") -> None:
    """mkdir -p, with a one-line error for a place that cannot hold it (read-only, a file...)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SketchcolorError(
            f"{folder}: cannot create the {what} ({error.strerror or error})"
        ) from error
