"""Options of `sketchcolor quickstart` (its command line is generated from these fields).

Usage: run_quickstart(QuickstartConfig(out=Path("quickstart"), data="synth"))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from sketchcolor.errors import SketchcolorError


@dataclasses.dataclass(kw_only=True)
class QuickstartConfig:
    """What `sketchcolor quickstart` does."""

    out: Path = Path("quickstart")
    """Folder for everything: openmoji/ (or synth/), shards/, runs/, evaluation/,
    interactive/ and quickstart.png."""
    data: Literal["openmoji", "synth"] = "openmoji"
    """openmoji: OpenMoji's designer-drawn line art (the openmoji extra, `pip install -e
    '.[openmoji]'`, CC BY-SA 4.0); synth: generated shapes, for a machine without it."""
    count: int | None = None
    """Pairs in all (train + val). openmoji: 1000 spread over the collection when not given
    (every emoji is about 4,000), of which about 890 render as pairs; synth: 300 (270 + 30)."""
    size: int = 256
    """Half size of the pairs and training size (the smallest Model 1 and 2.1 take)."""
    steps: int = 300
    """Training steps per run (batches of 8): 300 fit the whole quickstart, install included,
    in about 10 minutes on 2 CPU cores; the recipe's measured 1200 take about 4x longer."""
    samples: int = 5
    """Val sketches in quickstart.png."""
    benchmark_images: int = 64
    """Val sketches the interactive benchmark colours (openmoji only; docs/learning.md: 132)."""
    seed: int = 0
    """Seed of the data, training and label placement."""

    def __post_init__(self):
        self.out = Path(self.out)
        if self.count is not None and self.count < 20:
            raise SketchcolorError(f"--count must be at least 20, got {self.count}")
        if self.steps < 1:
            raise SketchcolorError(f"--steps must be at least 1, got {self.steps}")
        if self.samples < 1:
            raise SketchcolorError(f"--samples must be at least 1, got {self.samples}")
        if self.benchmark_images < 1:
            raise SketchcolorError(
                f"--benchmark-images must be at least 1, got {self.benchmark_images}"
            )
