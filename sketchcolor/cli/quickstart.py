"""`sketchcolor quickstart`: the whole pipeline on built-in synthetic data (CPU, minutes).

Usage: sketchcolor quickstart [--out quickstart]
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="synth -> shards -> train -> evaluate -> colorize on synthetic data",
        description="Write synthetic pairs, shard them, train small Models 1 and 2.1 with "
        "colour controls none and hints, evaluate them and colorize a few validation "
        "sketches. Runs on a CPU in a few minutes; re-running reuses what is there.",
    )
    parser.add_argument("--out", type=Path, default=Path("quickstart"), help="output folder")
    parser.add_argument("--count", type=int, default=120, help="synthetic pairs (default 120)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(
        QuickstartConfig(out=args.out, count=args.count, steps=args.steps, seed=args.seed)
    )
    return 0
