"""The checkpointer: Accelerate state every `save_every` steps and at the end, then the export.

Also `prepare_run_folder`, which checks the run folder against --resume before training.

Usage: checkpointer = Checkpointer(config, accelerator, inference_model, hint_config, last=resume_from); checkpointer.save(progress, last_step=False)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import TRAIN_CONFIG_FILE, export_generator
from sketchcolor.training import checkpoint as checkpoints
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


def prepare_run_folder(config: TrainConfig, accelerator) -> Path | None:
    """Check the run folder against --resume, write train_config.json; returns the checkpoint to resume."""
    checkpoint_root = config.out / CHECKPOINTS_FOLDER
    resume_from = checkpoints.latest_checkpoint(checkpoint_root)
    if resume_from is not None and not config.resume:
        raise SketchcolorError(
            f"{config.out} already holds checkpoints (latest {resume_from.name}); "
            "pass --resume to continue it, or choose another --out"
        )
    saved_config = config.out / TRAIN_CONFIG_FILE
    if resume_from is not None and saved_config.is_file():
        conflicts = config.resume_conflicts(TrainConfig.load(saved_config))
        if conflicts:
            raise SketchcolorError(
                f"cannot resume {config.out} with other settings: {'; '.join(conflicts)}"
            )
    accelerator.wait_for_everyone()  # every rank has chosen its checkpoint before any clean-up
    if accelerator.is_main_process:
        try:
            config.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SketchcolorError(
                f"{config.out}: cannot create the run folder ({error.strerror or error})"
            ) from error
        checkpoints.remove_partial_checkpoints(checkpoint_root)
        config.save(saved_config)
    accelerator.wait_for_everyone()
    return resume_from
