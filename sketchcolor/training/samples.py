"""Sample grids: a fixed validation batch colored every `sample_every` steps, as a PNG with one
row per pair, sketch | colour control | output | target. The colour-control column shows what
the generator was given besides the sketch: nothing (white), the 9 palette colours as stripes,
the hint labels over a faded sketch, or both. evaluation/grid.py draws the same picture.

Usage: samples = SampleWriter(config, hint_config, accelerator, model); samples.maybe_write(step, last_step=False)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.loading.loader import create_loader
from sketchcolor.data.shards.manifest import read_manifest
from sketchcolor.runs import samples_path
from sketchcolor.training.inputs import step_inputs
from sketchcolor.util.files import atomic_output


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
            reference=inputs.generator_input[:, -3:],  # the reference control's last channels
        )
        return save_sample_grid(
            samples_path(self.config.out, step),
            sketch=inputs.sketch,
            control=control,
            output=output,
            target=inputs.color,
        )


# ----------------------------------------------------------------------------- the grid picture


def palette_stripes(palette: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 9, 3) colours in [-1, 1] -> (B, 3, height, width): one vertical stripe per colour."""
    colors = palette.permute(0, 2, 1).unsqueeze(2)  # (B, 3, 1, 9)
    return torch.nn.functional.interpolate(colors, size=(height, width), mode="nearest")


def hints_over_sketch(sketch: torch.Tensor, rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hint labels painted on a faded sketch, so a label's place in the drawing is visible."""
    faded = sketch * 0.3 + 0.7  # (B, 3, H, W), lines turn light grey on white
    return mask * rgb + (1 - mask) * faded


def control_image(
    color_control: str, sketch: torch.Tensor, *, palette=None, hints=None, reference=None
) -> torch.Tensor:
    """(B, 3, H, W) picture of the colour control in [-1, 1] (reference: the reference
    control's picture, its labels painted over it)."""
    batch, _, height, width = sketch.shape
    if color_control == "none":
        return torch.ones_like(sketch)
    if color_control == "palette":
        return palette_stripes(palette, height, width)
    if color_control == "reference":
        return torch.lerp(reference.to(hints.rgb), hints.rgb, hints.mask)
    painted = hints_over_sketch(sketch, hints.rgb, hints.mask)
    if color_control == "hints":
        return painted
    # mixed: hints above, the palette as a band along the bottom quarter
    band = height // 4
    stripes = palette_stripes(palette, band, width)
    return torch.cat([painted[:, :, : height - band], stripes], dim=2)


def save_sample_grid(
    path: Path,
    *,
    sketch: torch.Tensor,
    control: torch.Tensor,
    output: torch.Tensor,
    target: torch.Tensor,
) -> Path:
    """Write the 4-column grid as PNG; every input is (B, 3, H, W) in [-1, 1]."""
    columns = torch.stack([sketch, control, output, target], dim=1)  # (B, 4, 3, H, W)
    tiles = columns.flatten(0, 1).float().cpu().clamp(-1, 1) * 0.5 + 0.5  # (4B, 3, H, W) in [0, 1]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:  # a viewer never sees half a grid
        torchvision.utils.save_image(tiles, temporary, nrow=4, padding=2, pad_value=1.0)
    return path
