"""Turn a failed write (full disk, quota, read-only mount) into one line that says what is safe.

Usage:
    with write_errors(path, safe="the last good checkpoint is runs/a/checkpoints/step-200"):
        accelerator.save_state(path)
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path

from sketchcolor.errors import SketchcolorError


def write_error_types() -> tuple[type[BaseException], ...]:
    """OSError, safetensors' error, and torch.save's RuntimeError ("failed writing file")."""
    types: list[type[BaseException]] = [OSError, RuntimeError]
    with contextlib.suppress(ImportError):
        from safetensors import SafetensorError

        types.append(SafetensorError)
    return tuple(types)


def describe_write_error(error: BaseException, path: Path | None = None) -> str:
    """Why a write failed, in a few words; "the disk is full" also when a library hid ENOSPC."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    # torch.save reports a full disk as "[enforce fail at inline_container.cc] unexpected pos".
    if path is not None and nearly_full(path):
        return "the disk is full"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def nearly_full(path: Path) -> bool:
    """Less than 1 MiB (or 1 %) left on the file system that holds `path`."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        usage = shutil.disk_usage(existing)
    except OSError:
        return False
    return usage.free < max(1 << 20, usage.total // 100)


@contextlib.contextmanager
def write_errors(path: Path, *, safe: str):
    """Re-raise a write failure inside the block as SketchcolorError naming `path` and `safe`."""
    try:
        yield
    except SketchcolorError:
        raise
    except write_error_types() as error:
        raise SketchcolorError(
            f"{path}: cannot write ({describe_write_error(error, path)}); {safe}"
        ) from None
