"""`sketchcolor hints REF.png -o HINTS.png`: the hint labels training would sample for an image.

The PNG holds the labels on a transparent background; `sketchcolor colorize --hints` reads it.

Usage: sketchcolor hints reference.png -o hints.png --count 20 --seed 0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from tyro.conf import Positional, arg

NAME = "hints"
HELP = "write the hint labels training would sample for a reference image (PNG)"
DESCRIPTION = (
    "Sample hint labels from a color reference image as training does (square labels on a "
    "grid of nodes, each the mean color of its square; 10x10 at 512, scaled to the image "
    "size) and write them as a PNG with a transparent background, for `sketchcolor colorize`."
)


@dataclass(kw_only=True)
class HintsOptions:
    reference: Positional[Path]
    """REF: color reference image."""
    out: Annotated[Path, arg(aliases=("-o",))]
    """Output PNG."""
    count: int | None = None
    """Number of labels (None: a random count, as in training)."""
    seed: int = 0
    """Random seed."""
    grid: int = 40
    """Nodes per side."""
    label_size: int | None = None
    """Label side in px (None: the paper's 10 px at 512, scaled to the image's size)."""
    size: int | None = None
    """Resize the reference to SIZE x SIZE first (None: keep its size)."""


def options():
    return HintsOptions


def run(args: HintsOptions) -> int:
    from sketchcolor.config import HintConfig
    from sketchcolor.data.controls.user_controls import write_reference_hints
    from sketchcolor.errors import SketchcolorError

    if args.count is not None and args.count < 0:
        raise SketchcolorError(f"--count must be >= 0, got {args.count}")
    scale_label_size = args.label_size is None
    config = HintConfig(
        grid=args.grid, **({} if scale_label_size else {"label_size": args.label_size})
    )
    labels = write_reference_hints(
        args.reference,
        args.out,
        config,
        count=args.count,
        seed=args.seed,
        size=args.size,
        scale_label_size=scale_label_size,
    )
    print(f"wrote {labels} hint labels to {args.out}")
    return 0
