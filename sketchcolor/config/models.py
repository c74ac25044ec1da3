"""Options of `sketchcolor models`, the table of generators with their parameters and GFLOPs
(the options of a model to train are `ModelConfig`, in config/training.py).

Usage: models_report(ModelsCommandConfig(size=256))
"""

from __future__ import annotations

from dataclasses import dataclass

from sketchcolor.errors import SketchcolorError


@dataclass(kw_only=True)
class ModelsCommandConfig:
    """Options of `sketchcolor models` (sketchcolor.models.profile.models_report)."""

    size: int = 512
    """Square image size the GFLOPs are measured at."""
    width: float = 1.0
    """Channel width multiplier (1 = the paper's)."""
    json: bool = False
    """Print JSON instead of a table."""

    def __post_init__(self):
        if self.size < 1 or self.width <= 0:
            raise SketchcolorError("--size must be >= 1 and --width > 0")
