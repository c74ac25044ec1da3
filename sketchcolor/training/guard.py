"""Stop a run whose losses turned NaN or infinite, before anything broken is saved.

Every micro-batch's losses are watched on the device, without a host sync: a device tensor
remembers the first bad step and its losses. The verdict is read (one tiny all-reduce and one
sync) only when the run is about to log, write samples or save a checkpoint, so nothing
computed after a bad step is ever saved, and the message still names the first bad step.
All processes check at the same steps and the verdict is summed over them, so all stop
together (a rank that stopped alone would leave the others waiting in the next all-reduce).

Usage: guard = FiniteGuard(); guard.observe(losses, step=12); guard.check(accelerator=accelerator, step=12, last_checkpoint=path)
"""

from __future__ import annotations

from pathlib import Path

import torch

from sketchcolor.errors import SketchcolorError


class NonFiniteLossError(SketchcolorError):
    """A loss became NaN or infinite; the message names the step and the checkpoint to resume from."""


class FiniteGuard:
    """The first step whose losses were not finite, kept on the losses' device."""

    def __init__(self) -> None:
        self.first_bad_step: torch.Tensor | None = None  # () int64, 0 while all are finite
        self.bad_values: torch.Tensor | None = None  # (L,) the losses of that step
        self.names: list[str] = []

    def observe(self, losses: dict[str, torch.Tensor], *, step: int) -> None:
        """Remember `step` if it is the first with a non-finite loss; no host sync."""
        values = torch.stack([value.detach().float().reshape(()) for value in losses.values()])
        if self.first_bad_step is None:
            self.first_bad_step = torch.zeros((), dtype=torch.long, device=values.device)
            self.bad_values = torch.zeros_like(values)
            self.names = list(losses)
        first_time = (~torch.isfinite(values)).any() & (self.first_bad_step == 0)  # ()
        self.bad_values = torch.where(first_time, values, self.bad_values)
        self.first_bad_step.masked_fill_(first_time, step)

    def check(self, *, accelerator, step: int, last_checkpoint: Path | None) -> None:
        """Raise NonFiniteLossError on every process when any process saw a non-finite loss."""
        if self.first_bad_step is None:
            return
        bad = (self.first_bad_step > 0).float().reshape(1)  # (1,)
        if accelerator.num_processes > 1:
            bad = accelerator.reduce(bad, reduction="sum")
        if bad.item() == 0:
            return
        first = int(self.first_bad_step.item())
        if first > 0:
            shown = ", ".join(
                f"{name}={value:.4g}"
                for name, value in zip(self.names, self.bad_values.tolist(), strict=True)
            )
            what = f"non-finite loss at step {first} ({shown})"
        else:
            what = "non-finite loss on another process"
        where = (
            f"the last good checkpoint is {last_checkpoint} (continue with --resume, perhaps with a lower --lr)"
            if last_checkpoint is not None
            else "no checkpoint was written before it"
        )
        raise NonFiniteLossError(f"{what}; stopped at step {step} without saving; {where}")
