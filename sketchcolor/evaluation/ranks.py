"""Helpers for one evaluation split over processes: gather per-image values, decide on rank 0.

Each works with `accelerator=None` (one process, no collectives) as with an
`accelerate.Accelerator`, so the evaluation's code reads the same either way.
"""

from __future__ import annotations

import numpy as np

from sketchcolor.errors import SketchcolorError


def gather_arrays(parts: list[np.ndarray], accelerator, width: int | None = None) -> np.ndarray:
    """Concatenate this rank's arrays and gather every rank's (one process: as is)."""
    local = np.concatenate(parts) if parts else np.zeros((0,) if width is None else (0, width))
    if single_process(accelerator):
        return local
    # gather_object: ranks may hold different numbers of images, which tensor gathers refuse.
    gathered = accelerator.gather_for_metrics([local], use_gather_object=True)
    return np.concatenate(gathered)


def is_main_process(accelerator) -> bool:
    """Rank 0, or the only process."""
    return accelerator is None or accelerator.is_main_process


def process_count(accelerator) -> int:
    """How many processes share the work (1 without an accelerator)."""
    return accelerator.num_processes if accelerator is not None else 1


def single_process(accelerator) -> bool:
    """No collective calls needed: no accelerator, or one process."""
    return process_count(accelerator) == 1


def computed_on_main(accelerator, compute):
    """compute() on rank 0 only, its value (or its one-line error) on every rank.

    A SketchcolorError on rank 0 is re-raised on every rank, so none waits in a collective.
    """
    if single_process(accelerator):
        return compute()
    from accelerate.utils import broadcast_object_list

    box = [None]
    if accelerator.is_main_process:
        try:
            box = [("value", compute())]
        except SketchcolorError as error:
            box = [("error", str(error))]
    broadcast_object_list(box, from_process=0)
    kind, value = box[0]
    if kind == "error":
        raise SketchcolorError(value)
    return value
