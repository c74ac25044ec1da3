"""The checkpointer: Accelerate state every `save_every` steps and at the end, then the export.

Also `prepare_run_folder`, which checks the run folder against --resume before training, and
`recorded_precision`, the mixed precision a resumed run keeps.

The export gets BatchNorm statistics recomputed from its own weights (sketchcolor/models/batchnorm.py):
the running ones lag the weights (docs/learning.md); the live model keeps its own.

Usage: checkpointer = Checkpointer(config, accelerator, inference_model, hint_config, loader=loader, last=resume_from); checkpointer.save(progress, last_step=False)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.controls.conditioning import statistics_inputs
from sketchcolor.errors import SketchcolorError
from sketchcolor.models.batchnorm import with_recomputed_statistics
from sketchcolor.runs import CHECKPOINTS_FOLDER, TRAIN_CONFIG_FILE, export_generator
from sketchcolor.training.checkpoints import state as checkpoints
from sketchcolor.training.checkpoints.state import TrainingProgress, save_checkpoint
from sketchcolor.util.disk import write_errors
from sketchcolor.util.files import create_output_folder


class Checkpointer:
    """Saves on every process (Accelerate needs all of them); exports from the main one."""

    def __init__(
        self,
        config: TrainConfig,
        accelerator,
        model,
        hint_config: HintConfig,
        *,
        loader,
        last: Path | None,
    ) -> None:
        self.config, self.accelerator, self.model = config, accelerator, model
        self.hint_config = hint_config
        self.loader = loader
        """The training loader: its batches give the export its BatchNorm statistics."""
        self.root = config.out / CHECKPOINTS_FOLDER
        self.last = last
        """The newest complete checkpoint (None before the first); named when a loss goes bad."""
        self.exported_step: int | None = None

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
        """generator.safetensors + config.json, from the main process; once per step (the final
        save already exports what the run's end would export again)."""
        if self.accelerator.is_main_process and step != self.exported_step:
            export_generator(self.config, self.exported_model(), self.hint_config, step)
            self.exported_step = step

    def exported_model(self):
        """The inference model with BatchNorm statistics from its own weights (a copy; the
        model itself when it has no BatchNorm or `batchnorm_batches` is 0)."""
        inputs = statistics_inputs(
            self.loader, color_control=self.config.model.color_control,
            hint_config=self.hint_config, seed=self.config.seed,
            batches=self.config.output.batchnorm_batches,
        )  # fmt: skip
        return with_recomputed_statistics(self.model, inputs)


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
    previous = readable_config(saved_config, accelerator) if resume_from is not None else None
    if previous is not None:
        conflicts = config.resume_conflicts(previous)
        if conflicts:
            raise SketchcolorError(
                f"cannot resume {config.out} with other settings: {'; '.join(conflicts)}"
            )
    accelerator.wait_for_everyone()  # every rank has chosen its checkpoint before any clean-up
    if accelerator.is_main_process:
        create_output_folder(config.out, what="run folder")
        checkpoints.remove_partial_checkpoints(checkpoint_root)
        with write_errors(saved_config, safe=f"the checkpoints in {checkpoint_root} are untouched"):
            config.save(saved_config)
    accelerator.wait_for_everyone()
    return resume_from


def recorded_precision(config: TrainConfig) -> str | None:
    """The mixed precision a run being resumed recorded in its train_config.json, or None
    (not resuming, nothing to resume, no readable config, or no precision in it)."""
    if not config.resume or checkpoints.latest_checkpoint(config.out / CHECKPOINTS_FOLDER) is None:
        return None
    try:
        previous = TrainConfig.load(config.out / TRAIN_CONFIG_FILE)
    except SketchcolorError:  # absent or unreadable: prepare_run_folder says so and rewrites it
        return None
    recorded = previous.optim.mixed_precision
    return None if recorded == "auto" else recorded


def readable_config(path: Path, accelerator) -> TrainConfig | None:
    """The run's saved config, or None when absent or unreadable (a kill mid-write, before
    writes were atomic): then this run's flags are written in its place, with a note."""
    if not path.is_file():
        return None
    try:
        return TrainConfig.load(path)
    except SketchcolorError as error:
        if accelerator.is_main_process:
            print(f"sketchcolor train: note: {error}; rewriting it from this run's flags")
        return None
