"""ImageMagick, the reader artists' tools share, for tests that read layered files back
(tests/inference/test_layers.py, tests/serve/test_serve_artist.py): each layer of a PSD, and composites."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def find_imagemagick() -> str | None:
    """The first `magick` or `convert` on PATH that says it is ImageMagick: a `convert` of
    another program (some machines put a small stand-in there) would fail every test."""
    for name in ("magick", "convert"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            version = subprocess.run([path, "-version"], capture_output=True, text=True,
                                     timeout=30).stdout  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.startswith("Version: ImageMagick"):
            return path
    return None


MAGICK = find_imagemagick()
needs_magick = pytest.mark.skipif(
    MAGICK is None,
    reason="reading layered files back needs ImageMagick: apt-get install imagemagick",
)


def magick(*arguments: str) -> bytes:
    result = subprocess.run([MAGICK, *arguments], capture_output=True, check=True)
    return result.stdout


def identify(*arguments: str) -> str:
    command = [MAGICK, "identify"] if MAGICK.endswith("magick") else [shutil.which("identify")]
    return subprocess.run([*command, *arguments], capture_output=True, check=True,
                          text=True).stdout  # fmt: skip


def magick_rgba(*source: str, size: tuple[int, int]) -> np.ndarray:
    """ImageMagick's reading of an image (or of an image operation) as (H, W, 4) uint8."""
    height, width = size
    raw = magick(*source, "-depth", "8", "rgba:-")
    return np.frombuffer(raw, np.uint8).reshape(height, width, 4)


def psd_layers_by_magick(path: Path) -> list[dict]:
    """Each layer of a PSD as ImageMagick sees it, bottom to top (its index 0 is the merged
    image): label, compose (blend mode; "None" for a hidden layer), geometry."""
    lines = identify("-format", "%p|%l|%[compose]|%w|%h|%X|%Y\n", str(path)).splitlines()
    layers = []
    for line in lines[1:]:
        index, label, compose, width, height, left, top = line.split("|")
        layers.append({"index": int(index), "name": label, "compose": compose,
                       "geometry": (int(width), int(height), left, top)})  # fmt: skip
    return layers
