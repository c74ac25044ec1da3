"""The checkpointer: Accelerate state every `save_every` steps and at the end, then the export.

Usage: checkpointer = Checkpointer(config, accelerator, inference_model, hint_config, last=resume_from); checkpointer.save(progress, last_step=False)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.runs import export_generator
from sketchcolor.training.checkpoint import TrainingProgress, save_checkpoint

CHECKPOINTS_FOLDER = "checkpoints"


class Checkpointer:
    """Saves on every process (Accelerate needs all of them); exports from the main one."""

    def __init__(
        self, config: TrainConfig, accelerator, model, hint_config: HintConfig, *, last: Path | None
    ) -> None:
        self.config, self.accelerator, self.model = config, accelerator, model
        self.hint_config = hint_config
        self.root = config.out / CHECKPOINTS_FOLDER
        self.last = last
        """The newest complete checkpoint (None before the first); named when a loss goes bad."""

    def save(self, progress: TrainingProgress, *, last_step: bool) -> Path | None:
        """A checkpoint and the exported generator when `progress.step` is due, else None."""
        if progress.step % self.config.output.save_every != 0 and not last_step:
            return None
        self.last = save_checkpoint(
            self.accelerator, self.root, progress, keep=self.config.output.keep_checkpoints
        )
        self.export(progress.step)
        return self.last

    def export(self, step: int) -> None:
        """generator.safetensors + config.json, from the main process."""
        if self.accelerator.is_main_process:
            export_generator(self.config, self.model, self.hint_config, step)
