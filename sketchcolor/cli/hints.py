"""`sketchcolor hints REF.png -o HINTS.png`: the hint labels training would sample for an image.

The PNG holds the labels on a transparent background; `sketchcolor colorize --hints` reads it.

Usage: sketchcolor hints reference.png -o hints.png --count 20 --seed 0
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "hints",
        help="write the hint labels training would sample for a reference image (PNG)",
        description="Sample hint labels from a colour reference image as training does (square "
        "labels on a grid of nodes, each the mean colour of its square; 10x10 at 512, scaled "
        "to the image size) and write them as a PNG with a transparent background, for "
        "`sketchcolor colorize`.",
    )
    parser.add_argument("reference", type=Path, metavar="REF", help="colour reference image")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output PNG")
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="number of labels (default: a random count, as in training)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--grid", type=int, default=40, help="nodes per side (default 40)")
    parser.add_argument(
        "--label-size",
        type=int,
        default=None,
        help="label side in px (default: the paper's 10 px at 512, scaled to the image's size)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="resize the reference to SIZE x SIZE first (default: keep its size)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.data.conditioning import HintConfig
    from sketchcolor.data.user_controls import write_reference_hints
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
