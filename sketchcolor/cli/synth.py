"""`sketchcolor synth OUT`: write synthetic sketch/color pairs in the Kaggle folder layout.

The options are `sketchcolor.config.SynthCommandConfig` (OUT and `SynthConfig`'s fields as
flat flags).

Usage: sketchcolor synth my-synth --count 200 --size 256 --seed 0
"""

from __future__ import annotations

NAME = "synth"
HELP = "write synthetic pairs (OUT/data/train, OUT/data/val; color left, sketch right)"
DESCRIPTION = (
    "Write synthetic flat-colored line-art pairs in the Kaggle layout: "
    "OUT/data/train/*.png and OUT/data/val/*.png, each 2S wide and S high."
)


def options():
    from sketchcolor.config import SynthCommandConfig

    return SynthCommandConfig


def run(config) -> int:
    from sketchcolor.data.sources.synth import write_synthetic_dataset

    counts = write_synthetic_dataset(config.out, config.synth)
    print(
        f"wrote {config.synth.count} pairs of {2 * config.synth.size}x{config.synth.size} to "
        f"{config.out}/data (train {counts['train']}, val {counts['val']})"
    )
    return 0
