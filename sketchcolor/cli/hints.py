"""`sketchcolor hints REF.png -o HINTS.png`: the hint labels training would sample for an image.

The PNG holds the labels on a transparent background; `sketchcolor colorize --hints` reads it.
The options are `sketchcolor.config.HintsCommandConfig`; `write_hints_png` runs them.

Usage: sketchcolor hints reference.png -o hints.png --count 20 --seed 0
"""

from __future__ import annotations

NAME = "hints"
HELP = "write the hint labels training would sample for a reference image (PNG)"
DESCRIPTION = (
    "Sample hint labels from a color reference image as training does (square labels on a "
    "grid of nodes, each the mean color of its square; 10x10 at 512, scaled to the image "
    "size) and write them as a PNG with a transparent background, for `sketchcolor colorize`."
)


def options():
    from sketchcolor.config import HintsCommandConfig

    return HintsCommandConfig


def run(config) -> int:
    from sketchcolor.data.controls.user_controls import write_hints_png

    labels = write_hints_png(config)
    print(f"wrote {labels} hint labels to {config.out}")
    return 0
