"""`sketchcolor colorize`: color sketches with a trained run, optionally steered by colors.

The options are `sketchcolor.config.ColorizeConfig`; `colorize_files` runs them.

Usage: sketchcolor colorize sketch.png --run runs/m21-hints -o out.png --hints hints.png
"""

from __future__ import annotations

NAME = "colorize"
HELP = "color sketches with a trained run"
DESCRIPTION = (
    "Color one sketch or a folder of sketches with a run's generator. Palette and hints must "
    "match the color control the run was trained with."
)


def options():
    from sketchcolor.config import ColorizeConfig

    return ColorizeConfig


def run(config) -> int:
    from sketchcolor.inference.colorize import colorize_files

    written = colorize_files(config)
    where = written[0] if len(written) == 1 else written[0].parent
    layered = " and their layered files" if config.layers is not None else ""
    print(f"colorize: wrote {len(written)} image(s){layered} to {where}")
    return 0
