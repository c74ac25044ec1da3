"""`sketchcolor synth OUT`: write synthetic sketch/color pairs in the Kaggle folder layout.

Usage: sketchcolor synth my-synth --count 200 --size 256 --seed 0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tyro.conf import OmitArgPrefixes, Positional

from sketchcolor.config import SynthConfig

NAME = "synth"
HELP = "write synthetic pairs (OUT/data/train, OUT/data/val; color left, sketch right)"
DESCRIPTION = (
    "Write synthetic flat-colored line-art pairs in the Kaggle layout: "
    "OUT/data/train/*.png and OUT/data/val/*.png, each 2S wide and S high."
)


@dataclass(kw_only=True)
class SynthOptions:
    out: Positional[Path]
    """OUT: output folder."""
    synth: OmitArgPrefixes[SynthConfig] = field(default_factory=SynthConfig)


def options():
    return SynthOptions


def run(options: SynthOptions) -> int:
    from sketchcolor.data.sources.synth import write_synthetic_dataset

    config = options.synth
    counts = write_synthetic_dataset(options.out, config)
    print(
        f"wrote {config.count} pairs of {2 * config.size}x{config.size} to {options.out}/data "
        f"(train {counts['train']}, val {counts['val']})"
    )
    return 0
