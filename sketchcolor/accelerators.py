"""The HuggingFace Accelerator for training and evaluation: create it, release it, pick the loader.

Usage: accelerator = create_accelerator(); ...; release_accelerator(accelerator)
"""

from __future__ import annotations

import contextlib
import importlib.util

import torch


def has_gpu() -> bool:
    """A CUDA, XPU or Apple MPS device is there for Accelerate to use."""
    xpu = getattr(torch, "xpu", None)
    return (
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or torch.backends.mps.is_available()
    )


def create_accelerator(**options):
    """An Accelerator on the GPU when there is one; `options` go to `accelerate.Accelerator`."""
    from accelerate import Accelerator

    # Without a GPU, Accelerate only turns torchrun's environment into a (gloo) process
    # group when told to use the CPU; with cpu=False each rank would work on its own.
    return Accelerator(cpu=not has_gpu(), **options)


def release_accelerator(accelerator) -> None:
    """Close the trackers; in a single process, also forget Accelerate's process-wide state.

    Accelerate keeps its state in singletons that refuse a second Accelerator with another
    mixed precision; resetting them (Accelerate's own tests do the same) lets one process
    train several runs in a row, as the quickstart and the tests do.
    """
    from accelerate.state import AcceleratorState, GradientState

    # A tracker whose writer never opened (a full disk at start) fails to close with an
    # AttributeError; the error that stopped the run is the one the user must see.
    with contextlib.suppress(AttributeError, OSError):
        accelerator.end_training()
    if accelerator.num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def has_dali() -> bool:
    return (
        importlib.util.find_spec("nvidia") is not None
        and importlib.util.find_spec("nvidia.dali") is not None
    )


def resolve_backend(name: str) -> str:
    """auto: DALI when it is installed, a GPU is there to decode on and a one-op DALI GPU
    pipeline really runs (`dali_gpu_problem`), else the torch loader, saying why in one line.

    On a CPU auto picks the torch loader by measurement: at 1024x512 pairs it beats DALI's
    CPU pipeline (benchmarks/README.md, "Loaders at the Kaggle size").
    """
    if name != "auto":
        return name
    if not (has_dali() and torch.cuda.is_available()):
        return "torch"
    from sketchcolor.data.dali_loader import dali_gpu_problem

    problem = dali_gpu_problem(torch.cuda.current_device())
    if problem is not None:
        print(f"loader auto: DALI cannot run on this GPU ({problem}); using the torch loader")
        return "torch"
    return "dali"
