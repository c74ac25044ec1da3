"""`sketchcolor shards SRC OUT`: validate pairs and write WebDataset shards with palettes.

Usage: sketchcolor shards synth shards --shard-size 1000 --workers 4
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "shards",
        help="turn a folder of pairs into WebDataset shards + DALI indexes + manifest",
        description="Validate every pair of SRC (Kaggle layout data/train + data/val, or a flat "
        "folder split 90/10 by file-name hash), compute its 9-colour palette, and write "
        "shuffled WebDataset shards, a DALI .idx per tar and manifest.json into OUT. "
        "Re-running into the same OUT completes missing shards.",
    )
    add_shard_arguments(parser)
    parser.set_defaults(run=run)


def add_shard_arguments(parser) -> None:
    """The options of `sketchcolor shards`, shared with shards/prepare.py."""
    parser.add_argument("source", type=Path, metavar="SRC", help="folder of pair images")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder for the shards")
    parser.add_argument("--size", type=int, help="resize each half to SIZE x SIZE (default keep)")
    parser.add_argument("--shard-size", type=int, default=1000, help="pairs per tar (default 1000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--format",
        dest="image_format",
        choices=("jpeg", "png"),
        default="jpeg",
        help="pair encoding: jpeg (GPU-decodable, default) or png (lossless, CPU decode)",
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and k-means seed (default 0)")
    parser.add_argument(
        "--palette-engine",
        choices=("auto", "faiss-cpu", "faiss-gpu", "torch"),
        default="auto",
        help="k-means engine for the palettes (default auto: the fastest for this machine)",
    )


def run(args) -> int:
    from sketchcolor.data.shards import ShardConfig, prepare_shards

    config = ShardConfig(
        size=args.size,
        shard_size=args.shard_size,
        workers=args.workers,
        image_format=args.image_format,
        quality=args.quality,
        seed=args.seed,
        palette_engine=args.palette_engine,
    )
    result = prepare_shards(args.source, args.out, config)
    print(f"{args.out}: {result.summary()}")
    for item in result.manifest["rejected"]:
        print(f"  rejected {item['file']}: {item['reason']}")
    return 0
