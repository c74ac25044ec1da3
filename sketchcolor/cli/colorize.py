"""`sketchcolor colorize`: colour sketches with a trained run, optionally steered by colours.

Usage: sketchcolor colorize sketch.png --run runs/m21-hints -o out.png --hints hints.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The limit is a plain number here, so `sketchcolor --help` does not import torch.
DEFAULT_MAX_PIXELS = 4096 * 4096


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "colorize",
        help="colour sketches with a trained run",
        description="Colour one sketch or a folder of sketches with a run's generator. Palette "
        "and hints must match the colour control the run was trained with.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("sketches", nargs="+", type=Path, help="sketch images and/or folders")
    parser.add_argument("--run", dest="run_dir", type=Path, required=True,
                        help="run folder (config.json + weights)")  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, required=True,
                        help="OUT.png for one sketch, else a folder")  # fmt: skip
    palette = parser.add_mutually_exclusive_group()
    palette.add_argument("--palette", help='1 to 9 hex colours, "#ff0000,#00ff00,..."')
    palette.add_argument("--palette-from", type=Path, help="reference image to take 9 colours from")
    hints = parser.add_mutually_exclusive_group()
    hints.add_argument("--hints", type=Path, help="hint labels PNG (transparent or white ground)")
    hints.add_argument("--hints-json", type=Path, help='[{"x": .., "y": .., "color": "#rrggbb"}]')
    parser.add_argument("--batch-size", type=int, default=8, help="sketches per generator call")
    parser.add_argument("--keep-size", action="store_true",
                        help="colour at the sketch's own size (only pad) instead of the training size")  # fmt: skip
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse sketches with more pixels than this")  # fmt: skip
    parser.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if any)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.colorize import colorize

    written = colorize(
        args.sketches,
        args.run_dir,
        args.out,
        palette=args.palette,
        palette_from=args.palette_from,
        hints_png=args.hints,
        hints_json=args.hints_json,
        batch_size=args.batch_size,
        resize=not args.keep_size,
        max_pixels=args.max_pixels,
        device=args.device,
    )
    where = written[0] if len(written) == 1 else written[0].parent
    print(f"colorize: wrote {len(written)} image(s) to {where}")
    return 0
