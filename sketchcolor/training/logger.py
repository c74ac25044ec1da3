"""The training logger: losses, learning rate and images/s to TensorBoard every `log_every` steps.

Usage: logger = TrainingLogger(accelerator, every=20, images_per_step=64, start_step=0); logger.maybe_log(step, losses, optimizer_g, last_step=False)
"""

from __future__ import annotations

import time

import torch


class Throughput:
    """Images per second between two log points (wall clock, all processes together)."""

    def __init__(self, step: int) -> None:
        self.step, self.time = step, time.perf_counter()

    def images_per_second(self, step: int, images_per_step: int) -> float:
        now = time.perf_counter()
        rate = (step - self.step) * images_per_step / max(now - self.time, 1e-9)
        self.step, self.time = step, now
        return rate


class TrainingLogger:
    """Decides when to log; every process takes part (the losses are averaged over them)."""

    def __init__(self, accelerator, *, every: int, images_per_step: int, start_step: int) -> None:
        self.accelerator, self.every, self.images_per_step = accelerator, every, images_per_step
        self.meter = Throughput(start_step)

    def maybe_log(self, step: int, losses: dict, optimizer_g, *, last_step: bool) -> dict | None:
        """The logged values when this step is due (every `every` steps and the last), else None."""
        if step % self.every != 0 and not last_step:
            return None
        return self.log(step, losses, optimizer_g)

    def log(self, step: int, losses: dict, optimizer_g) -> dict:
        """Losses averaged over processes, learning rate and images/s, to TensorBoard."""
        accelerator = self.accelerator
        names = list(losses)
        stacked = torch.stack([losses[name].float() for name in names])  # (L,)
        averaged = (
            accelerator.reduce(stacked, reduction="mean")
            if accelerator.num_processes > 1
            else stacked
        )
        values = {
            f"train/{name}": value for name, value in zip(names, averaged.tolist(), strict=True)
        }
        values["train/lr"] = optimizer_g.param_groups[0]["lr"]
        values["train/images_per_second"] = self.meter.images_per_second(step, self.images_per_step)
        accelerator.log(values, step=step)
        return values
