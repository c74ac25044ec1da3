"""Stop a run whose losses turned NaN or infinite, before anything broken is saved.

Every process checks its own losses and the verdict is all-reduced (MAX), so all ranks stop
on the same step (a rank that stopped alone would leave the others waiting forever in the next
all-reduce). This costs one tiny all-reduce and one device sync per step; the stop-signal flag
(training/preemption.py) rides on the same all-reduce.

Usage: check_finite(losses, accelerator=accelerator, step=12, last_checkpoint=path)
"""

from __future__ import annotations

from pathlib import Path

import torch

from sketchcolor.errors import SketchcolorError


class NonFiniteLossError(SketchcolorError):
    """A loss became NaN or infinite; the message names the step and the checkpoint to resume from."""


def check_finite(
    losses: dict[str, torch.Tensor],
    *,
    accelerator,
    step: int,
    last_checkpoint: Path | None,
    stop=None,
) -> None:
    """Raise NonFiniteLossError on every process when any process has a non-finite loss.

    stop: a StopSignals whose flag all ranks agree on in the same all-reduce (optional).
    """
    values = torch.stack([value.float() for value in losses.values()])  # (L,)
    bad = (~torch.isfinite(values)).sum().float().reshape(1)  # (1,)
    verdict = torch.cat([bad, bad.new_tensor([stop.pending() if stop is not None else 0])])
    if accelerator.num_processes > 1:
        verdict = accelerator.reduce(verdict, reduction="max")
    bad_count, signal = verdict.tolist()
    if stop is not None:
        stop.agree(int(signal))
    if bad_count == 0:
        return
    shown = ", ".join(f"{name}={value.item():.4g}" for name, value in losses.items())
    where = (
        f"the last good checkpoint is {last_checkpoint} (continue with --resume, perhaps with a lower --lr)"
        if last_checkpoint is not None
        else "no checkpoint was written before it"
    )
    raise NonFiniteLossError(
        f"non-finite loss at step {step} ({shown}); stopped without saving; {where}"
    )
