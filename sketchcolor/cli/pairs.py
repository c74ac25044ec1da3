"""`sketchcolor pairs SRC OUT`: make sketch/colour pairs from your own colour images.

Usage: sketchcolor pairs my-images my-pairs --size 512 --fit crop --method xdog --workers 4
"""

from __future__ import annotations

from pathlib import Path

# The defaults live in PairsConfig and LineArtConfig; they are repeated here only so that
# `--help` needs no torch import (tests/test_make_pairs.py checks that both agree).
DEFAULTS = {
    "size": 512,
    "fit": "crop",
    "resample": "lanczos",
    "method": "xdog",
    "sigma": 0.8,
    "k": 1.6,
    "p": 20.0,
    "epsilon": -0.02,
    "phi": 40.0,
    "low": 0.1,
    "high": 0.25,
    "batch_size": 16,
    "workers": 1,
    "device": "auto",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pairs",
        help="make sketch/colour pairs (Kaggle layout) from a folder of colour images",
        description="Find every image under SRC (recursive: PNG, JPEG, WebP, BMP), make it "
        "square (centre crop or white padding), resize it to SIZE x SIZE (antialiased), draw "
        "its line art (XDoG, or Sobel + hysteresis; batched with torch on the CPU or a GPU), "
        "and write OUT/data/train and OUT/data/val pairs (colour left, line art right), split "
        "by a hash of the file name. `sketchcolor shards OUT SHARDS` takes OUT as it is. "
        "Unusable files are skipped and listed in OUT/pairs-report.json; re-running into the "
        "same OUT writes only the missing pairs.",
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="folder of colour images")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder for the pairs")
    d = DEFAULTS
    parser.add_argument(
        "--size", type=int, default=d["size"], help="side S of each half (%(default)s)"
    )
    parser.add_argument(
        "--fit",
        choices=("crop", "pad"),
        default=d["fit"],
        help="make images square by centre crop or white padding (%(default)s)",
    )
    parser.add_argument(
        "--resample",
        choices=("lanczos", "bicubic", "bilinear", "box"),
        default=d["resample"],
        help="resampling filter, antialiased when shrinking (%(default)s)",
    )
    parser.add_argument(
        "--min-size",
        type=int,
        help="skip images whose square side is below this (default: SIZE, never enlarge)",
    )
    parser.add_argument(
        "--allow-grayscale", action="store_true", help="keep images without colour (default skip)"
    )
    extractor = parser.add_argument_group("line art")
    extractor.add_argument(
        "--method",
        choices=("xdog", "sobel"),
        default=d["method"],
        help="xdog (Winnemoeller et al. 2012) or sobel (magnitude + hysteresis) (%(default)s)",
    )
    extractor.add_argument(
        "--sigma", type=float, default=d["sigma"], help="Gaussian sigma in pixels (%(default)s)"
    )
    extractor.add_argument(
        "--k", type=float, default=d["k"], help="XDoG: ratio of the two sigmas (%(default)s)"
    )
    extractor.add_argument(
        "--p", type=float, default=d["p"], help="XDoG: sharpening strength (%(default)s)"
    )
    extractor.add_argument(
        "--epsilon",
        type=float,
        default=d["epsilon"],
        help="XDoG: threshold, lower = fewer lines (%(default)s)",
    )
    extractor.add_argument(
        "--phi", type=float, default=d["phi"], help="XDoG: threshold steepness (%(default)s)"
    )
    extractor.add_argument(
        "--low", type=float, default=d["low"], help="Sobel: weak-edge contrast (%(default)s)"
    )
    extractor.add_argument(
        "--high", type=float, default=d["high"], help="Sobel: strong-edge contrast (%(default)s)"
    )
    speed = parser.add_argument_group("speed (batch size and threads never change the bytes)")
    speed.add_argument(
        "--batch-size",
        type=int,
        default=d["batch_size"],
        help="images per extractor batch (%(default)s)",
    )
    speed.add_argument(
        "--workers", type=int, default=d["workers"], help="decode/encode threads (%(default)s)"
    )
    speed.add_argument(
        "--device",
        default=d["device"],
        help="extractor device: auto, cpu, cuda, cuda:1 (%(default)s); a GPU may round a few "
        "pixels differently from the CPU",
    )
    parser.set_defaults(run=run)


def config_from_args(args):
    from sketchcolor.data.line_art import LineArtConfig
    from sketchcolor.data.make_pairs import PairsConfig

    line_art = LineArtConfig(
        method=args.method,
        sigma=args.sigma,
        k=args.k,
        p=args.p,
        epsilon=args.epsilon,
        phi=args.phi,
        low=args.low,
        high=args.high,
    )
    return PairsConfig(
        size=args.size,
        fit=args.fit,
        resample=args.resample,
        min_size=args.min_size,
        allow_grayscale=args.allow_grayscale,
        line_art=line_art,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
    )


def run(args) -> int:
    from sketchcolor.data.make_pairs import make_pairs

    result = make_pairs(args.source, args.out, config_from_args(args))
    print(f"{args.out}: {result.summary()}")
    for item in result.skipped:
        print(f"  skipped {item['file']}: {item['reason']}")
    for name in result.orphans:
        print(
            f"  {name}: no image under SRC makes this pair any more (kept; delete it if unwanted)"
        )
    return 0
