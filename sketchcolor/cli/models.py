"""`sketchcolor models`: a table of every registered generator and the discriminator, with
parameter counts and forward GFLOPs measured at one image size.

A generator that does not accept the size (Models 2.2 and 3 need multiples of 512) is listed
with its parameter count and "n/a" for GFLOPs, with the sizes that work. The options are
`sketchcolor.config.ModelsCommandConfig`; `models_report` runs them.

Usage: sketchcolor models --size 512 [--json]
"""

from __future__ import annotations

NAME = "models"
HELP = "list the generators and the discriminator with parameters and GFLOPs"
DESCRIPTION = (
    "List every registered generator (by paper name and alias) and the discriminator, with "
    "parameter count and forward GFLOPs for one image, measured by counting the operations "
    "of a forward pass."
)


def options():
    from sketchcolor.config import ModelsCommandConfig

    return ModelsCommandConfig


def run(config) -> int:
    from sketchcolor.models.profile import models_report

    print(models_report(config))
    return 0
