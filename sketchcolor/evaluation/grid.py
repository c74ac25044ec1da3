"""The validation grid: a side-by-side PNG of a run on the first pairs of a split (sketch |
control | output | truth), with the controls `sketchcolor evaluate` scores.

Usage: colorize_validation_grid("runs/hints", "shards", "grid.png", count=4)
"""

from __future__ import annotations

from pathlib import Path

import torch

from sketchcolor.data.loading.loader import create_loader
from sketchcolor.runs import generate, image_size_of, load_run_generator, run_hints, run_reference
from sketchcolor.training.samples import control_image, save_sample_grid
from sketchcolor.util.devices import choose_device


def colorize_validation_grid(
    run_dir: str | Path,
    shard_dir: str | Path,
    out: str | Path,
    *,
    split: str = "val",
    count: int = 4,
    seed: int = 0,
    backend: str = "torch",
    device: torch.device | str | None = None,
) -> Path:
    """A side-by-side PNG of the first `count` pairs of a split: sketch | control | output | truth.

    The control column shows the palette stripes or the hint labels the generator was given,
    drawn with the same per-sample seeds as `sketchcolor evaluate`, so it shows what the
    evaluation scored. Returns the PNG path.
    """
    device = choose_device(device)
    generator, config, hint_config = load_run_generator(run_dir, device)
    size = image_size_of(config, Path(shard_dir))
    loader = create_loader(shard_dir, split=split, image_size=size, batch_size=count,
                           device=device, backend=backend, training=False, seed=seed)  # fmt: skip
    batch = next(iter(loader.epoch(0)))
    hints = run_hints(config, batch, seed)
    reference = run_reference(config, batch, seed)
    output = generate(generator, config, hint_config, batch["sketch"], batch["palette"], hints,
                      reference)  # fmt: skip
    picture = control_image(config.color_control, batch["sketch"], palette=batch["palette"],
                            hints=hints, reference=reference)  # fmt: skip
    # save_sample_grid writes under a temporary name and renames: never half a picture.
    return save_sample_grid(Path(out), sketch=batch["sketch"], control=picture, output=output,
                            target=batch["color"])  # fmt: skip
