"""`sketchcolor quickstart`: the whole pipeline on built-in synthetic data (CPU, minutes).

Usage: sketchcolor quickstart [--out quickstart]
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="synth -> shards -> train -> evaluate -> colorize on synthetic data",
        description="Write synthetic pairs, shard them, train small Model 1 runs with "
        "colour controls none, palette and hints, evaluate them, print how much each control "
        "lowers val L1 and colorize a few validation sketches. Runs on a 2-core CPU in about "
        "10 minutes; re-running reuses what is there.",
    )
    parser.add_argument("--out", type=Path, default=Path("quickstart"), help="output folder")
    parser.add_argument("--count", type=int, default=300, help="synthetic pairs (default 300)")
    parser.add_argument(
        "--steps", type=int, default=1200, help="training steps per run (default 1200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(
        QuickstartConfig(out=args.out, count=args.count, steps=args.steps, seed=args.seed)
    )
    return 0
