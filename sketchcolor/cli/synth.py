"""`sketchcolor synth OUT`: write synthetic sketch/colour pairs in the Kaggle folder layout.

Usage: sketchcolor synth synth --count 200 --size 256 --seed 0
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic pairs (OUT/data/train, OUT/data/val; colour left, sketch right)",
        description="Write synthetic flat-coloured line-art pairs in the Kaggle layout: "
        "OUT/data/train/*.png and OUT/data/val/*.png, each 2S wide and S high.",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder")
    parser.add_argument("--count", type=int, default=100, help="pairs in all (default 100)")
    parser.add_argument("--size", type=int, default=256, help="side S of each half (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="share written to data/val (default 0.1)"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.data.synth import SynthConfig, write_synthetic_dataset

    config = SynthConfig(
        count=args.count, size=args.size, seed=args.seed, val_fraction=args.val_fraction
    )
    counts = write_synthetic_dataset(args.out, config)
    print(
        f"wrote {config.count} pairs of {2 * config.size}x{config.size} to {args.out}/data "
        f"(train {counts['train']}, val {counts['val']})"
    )
    return 0
