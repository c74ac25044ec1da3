"""Stop a training run cleanly on SIGTERM, SIGUSR1 or SIGINT: save at the next step boundary.

A cluster warns a job before it kills it (SLURM's `--signal`, a preemption's SIGTERM, a
user's Ctrl-C). The handler only sets a flag. After each optimizer step all ranks agree on it
with `should_stop()`, an all-reduce (MAX) of a one-element tensor (nothing to reduce in one
process). So every rank stops after the same step even when only one rank was signalled (a
rank that stopped alone would leave the others waiting in the next collective). The loop then
saves a checkpoint of that step and exits with 128 + the signal number (143 for SIGTERM, 138
for SIGUSR1, 130 for SIGINT), the shell's convention for "ended by this signal".
A second SIGINT exits at once (code 130), without saving.

Usage:
    with StopSignals(accelerator) as stop:
        ...  # after each optimizer step:
        if stop.should_stop():
            raise stop.stopped(step, save_checkpoint(...))
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.util.stop_signals import HANDLED_SIGNALS


class TrainingStopped(SketchcolorError):
    """The run stopped on a signal after saving; `exit_code` is 128 + the signal number."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StopSignals:
    """Installs the handlers on enter, restores the previous ones on exit."""

    def __init__(self, accelerator=None) -> None:
        self.accelerator = accelerator
        self.received: int | None = None
        self.agreed = False
        """Whether any rank was signalled, as all ranks last agreed (`agree`, `should_stop`)."""
        self._previous: dict[int, object] = {}

    def install(self) -> StopSignals:
        """Route the signals to this object (the previous handlers are kept for `restore`)."""
        # Python only lets the main thread install handlers; elsewhere (a notebook's worker
        # thread) the run simply keeps the default behaviour.
        if threading.current_thread() is threading.main_thread():
            for number in HANDLED_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc_info) -> None:
        self.restore()

    def _handle(self, number: int, frame) -> None:
        if number == signal.SIGINT and self.received == signal.SIGINT:
            # os.write, not print: print is not safe inside a signal handler.
            os.write(2, b"sketchcolor train: second interrupt, exiting now without saving\n")
            os._exit(128 + signal.SIGINT)
        if self.received is None:
            self.received = number
            if self._is_main_process():
                name = signal.Signals(number).name
                note = f"\nsketchcolor train: {name} received; saving after this step\n"
                os.write(2, note.encode())

    def pending(self) -> int:
        """This rank's signal number, 0 when none came: what goes into the all-reduce (MAX)."""
        return 0 if self.received is None else int(self.received)

    def agree(self, number: int) -> None:
        """Record the all-reduced (MAX) `pending()` of every rank."""
        if number and self.received is None:
            self.received = number  # signalled elsewhere: report that rank's signal
        self.agreed = number != 0

    def should_stop(self) -> bool:
        """True on every rank when any rank was signalled (a collective: call it on all ranks)."""
        accelerator = self.accelerator
        if accelerator is None or accelerator.num_processes == 1:
            self.agree(self.pending())
        else:
            flag = torch.tensor([self.pending()], device=accelerator.device, dtype=torch.int32)
            self.agree(int(accelerator.reduce(flag, reduction="max").item()))
        return self.agreed

    def _is_main_process(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def stopped(self, step: int, checkpoint: Path) -> TrainingStopped:
        """The exception that ends the run after the checkpoint of `step` was saved."""
        number = self.received or signal.SIGTERM
        name = signal.Signals(number).name
        return TrainingStopped(
            f"stopped by {name} after step {step}; checkpoint {checkpoint} "
            "(continue with --resume)",
            exit_code=128 + number,
        )


def report_stop(stopped: TrainingStopped, command: str) -> int:
    """Print the one line of a signalled stop (rank 0 only) and return its exit code."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{command}: {stopped}", file=sys.stderr)
    return stopped.exit_code
