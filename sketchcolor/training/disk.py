"""Turn a failed write (full disk, quota, read-only mount) into one line that says what is safe.

Usage:
    with write_errors(path, safe="the last good checkpoint is runs/a/checkpoints/step-200"):
        accelerator.save_state(path)
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from sketchcolor.errors import SketchcolorError


def write_error_types() -> tuple[type[BaseException], ...]:
    """OSError, safetensors' error, and torch.save's RuntimeError ("failed writing file")."""
    types: list[type[BaseException]] = [OSError, RuntimeError]
    with contextlib.suppress(ImportError):
        from safetensors import SafetensorError

        types.append(SafetensorError)
    return tuple(types)


def describe_write_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


@contextlib.contextmanager
def write_errors(path: Path, *, safe: str):
    """Re-raise a write failure inside the block as SketchcolorError naming `path` and `safe`."""
    try:
        yield
    except SketchcolorError:
        raise
    except write_error_types() as error:
        raise SketchcolorError(
            f"{path}: cannot write ({describe_write_error(error)}); {safe}"
        ) from None
