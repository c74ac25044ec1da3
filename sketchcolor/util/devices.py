"""The one rule for choosing a device: what the user named, else the GPU when there is one,
else the CPU; a named CUDA device without CUDA is a one-line error.

Usage: device = choose_device(options.device)   # None or "auto" -> cuda if available, else cpu
"""

from __future__ import annotations

import torch

from sketchcolor.errors import SketchcolorError


def choose_device(device: torch.device | str | None = None) -> torch.device:
    """`device` as a torch.device; None or "auto" picks CUDA when available, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise SketchcolorError(
            f"--device {device}: not a device torch knows (cpu, cuda, cuda:1, ...)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SketchcolorError(f"--device {device}: no CUDA device is available")
    return device
