"""The sample writer: a fixed validation batch colored every `sample_every` steps, as a PNG grid.

Usage: samples = SampleWriter(config, hint_config, accelerator, model); samples.maybe_write(step, last_step=False)
"""

from __future__ import annotations

from pathlib import Path

import torch

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.loading.loader import create_loader
from sketchcolor.data.shards.manifest import read_manifest
from sketchcolor.runs import samples_path
from sketchcolor.training.inputs import step_inputs
from sketchcolor.training.sample_grid import control_image, save_sample_grid


def load_sample_batch(config: TrainConfig, hint_config: HintConfig, device) -> dict:
    """A fixed set of validation pairs (training pairs when there is no val split) and their inputs."""
    manifest = read_manifest(config.data)
    has_val = manifest.get("splits", {}).get("val", {}).get("count", 0) > 0
    loader = create_loader(
        config.data, split="val" if has_val else "train", image_size=config.model.size,
        batch_size=config.output.sample_count, device=device, backend="torch", training=False,
        rank=0, world_size=1, seed=config.seed, num_workers=0,
    )  # fmt: skip
    batch = next(iter(loader.epoch(0)))
    inputs, hints = step_inputs(
        batch, color_control=config.model.color_control, hint_config=hint_config,
        seed=config.seed, channels_last=config.model.channels_last, hint_device="cpu",
    )  # fmt: skip
    return {"inputs": inputs, "hints": hints, "palette": batch.get("palette")}


class SampleWriter:
    """Writes samples/step-N.png on the main process every `sample_every` steps and at the end."""

    def __init__(self, config: TrainConfig, hint_config: HintConfig, accelerator, model) -> None:
        self.config, self.accelerator, self.model = config, accelerator, model
        self.every = config.output.sample_every
        self.sample = (
            load_sample_batch(config, hint_config, accelerator.device)
            if accelerator.is_main_process
            else None
        )

    def maybe_write(self, step: int, *, last_step: bool) -> Path | None:
        due = self.every and (step % self.every == 0 or last_step)
        if self.sample is None or not due:
            return None
        return self.write(step)

    def write(self, step: int) -> Path:
        """sketch | color control | output | target, the model in eval mode."""
        inputs, model = self.sample["inputs"], self.model
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.accelerator.autocast():
            output = model(inputs.generator_input)  # (B, 3, H, W)
        model.train(was_training)
        control = control_image(
            self.config.model.color_control,
            inputs.sketch,
            palette=self.sample["palette"],
            hints=self.sample["hints"],
        )
        return save_sample_grid(
            samples_path(self.config.out, step),
            sketch=inputs.sketch,
            control=control,
            output=output,
            target=inputs.color,
        )
