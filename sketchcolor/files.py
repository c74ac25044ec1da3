"""File helpers shared by every stage: whole-or-nothing text writes and content hashes.

A reader must never see half a manifest or half a results table, so text goes to a
temporary name beside its target and is renamed into place (a rename is atomic on POSIX).

Usage: write_text_atomically(out / "manifest.json", json.dumps(manifest))
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sketchcolor.errors import SketchcolorError


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path.partial`, then rename it to `path`."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks so large shards never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_output_folder(folder: Path) -> None:
    """mkdir -p, with a one-line error for a place that cannot hold it (read-only, a file...)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SketchcolorError(
            f"{folder}: cannot create the output folder ({error.strerror or error})"
        ) from error
