"""Turn a loader batch into what the models eat: the generator input with its colour control.

Hints are drawn from a torch.Generator seeded by (seed, step, micro-batch, rank), so a resumed
run draws exactly the hints the uninterrupted run drew, without saving any generator state.

Usage: inputs, hints = step_inputs(batch, color_control="hints", hint_config=HintConfig(), seed=3)
"""

from __future__ import annotations

import torch

from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import (
    Hints,
    build_generator_input,
    draws_controls,
    simulated_controls,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.losses import border_weights
from sketchcolor.training.step import StepInputs


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def step_inputs(
    batch: dict,
    *,
    color_control: str,
    hint_config: HintConfig,
    seed: int,
    channels_last: bool = False,
    hint_device: torch.device | str | None = None,
    region_borders: float = 0.0,
) -> tuple[StepInputs, Hints | None]:
    """The models' inputs for one batch; `seed` drives the simulated hint labels and, for the
    reference control, the augmented-self reference (data/controls/reference.py).
    region_borders > 0: the losses weigh pixels near the shards' region borders that much
    more (losses.border_weights); the shards must hold region maps.

    hint_device: where the hint draws happen (None: the batch's device, no host round trip).
    "cpu" gives the same hints on every device (CPU and CUDA generators give different
    streams), which validation samples want; training keeps its draws on the GPU.
    """
    sketch, color = batch["sketch"], batch["color"]  # (B, 3, H, W) each
    generator = None
    if draws_controls(color_control):
        generator = seeded_generator(torch.device(hint_device or color.device), seed)
    hints, regions, reference = simulated_controls(batch, color_control, hint_config, generator)
    generator_input = build_generator_input(
        color_control, sketch, palette=batch.get("palette"), hints=hints, hint_config=hint_config,
        regions=regions, reference=reference,
    )  # (B, C, H, W)  # fmt: skip
    if channels_last:
        generator_input = generator_input.contiguous(memory_format=torch.channels_last)
        sketch = sketch.contiguous(memory_format=torch.channels_last)
        color = color.contiguous(memory_format=torch.channels_last)
    pixel_weights = None
    if region_borders > 0:
        if "regions" not in batch:
            raise SketchcolorError("--region-borders needs the region maps in the shards; "
                                   "add them with `sketchcolor shards --add-regions SHARDS`")  # fmt: skip
        pixel_weights = border_weights(batch["regions"], region_borders)
    return StepInputs(generator_input=generator_input, sketch=sketch, color=color,
                      pixel_weights=pixel_weights), hints  # fmt: skip
