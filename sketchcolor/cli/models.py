"""`sketchcolor models`: a table of every registered generator and the discriminator, with
parameter counts and forward GFLOPs measured at one image size.

A generator that does not accept the size (Models 2.2 and 3 need multiples of 512) is listed
with its parameter count and "n/a" for GFLOPs, with the sizes that work.

Usage: sketchcolor models --size 512 [--json]
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

NAME = "models"
HELP = "list the generators and the discriminator with parameters and GFLOPs"
DESCRIPTION = (
    "List every registered generator (by paper name and alias) and the discriminator, with "
    "parameter count and forward GFLOPs for one image, measured by counting the operations "
    "of a forward pass."
)


@dataclass(kw_only=True)
class ModelsOptions:
    size: int = 512
    """Square image size the GFLOPs are measured at."""
    width: float = 1.0
    """Channel width multiplier (1 = the paper's)."""
    json: bool = False
    """Print JSON instead of a table."""


def options():
    return ModelsOptions


def format_table(rows) -> str:
    """A markdown table of model profiles."""
    lines = [
        "| model | aliases | in | params (M) | GFLOPs | description |",
        "|---|---|---|---:|---:|---|",
    ]
    notes = []
    for row in rows:
        aliases = ", ".join(row.aliases) or "-"
        gflops = f"{row.gflops:.1f}" if row.available else "n/a"
        if not row.available:
            notes.append(f"{row.name}: {row.note}")
        lines.append(
            f"| {row.name} | {aliases} | {row.in_channels} | {row.parameters / 1e6:.2f} "
            f"| {gflops} | {row.description} |"
        )
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def run(args: ModelsOptions) -> int:
    from sketchcolor.errors import SketchcolorError
    from sketchcolor.models.profile import profile_models

    if args.size < 1 or args.width <= 0:
        raise SketchcolorError("--size must be >= 1 and --width > 0")
    rows = profile_models(size=args.size, width=args.width)
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        print(f"forward cost of one {args.size}x{args.size} image (2 FLOPs per multiply-add)")
        print(format_table(rows))
    return 0
