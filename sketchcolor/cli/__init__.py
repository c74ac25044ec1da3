"""The `sketchcolor` command: each sub-command lives in its own module in this package.

Every module has `register(subparsers)`, which adds its parser and sets `run`, a function
that turns the parsed arguments into plain arguments for a library call. Heavy imports
(torch, DALI) happen inside `run`, so `sketchcolor --help` stays fast.

Usage: sketchcolor synth OUT --count 100 --size 256
"""

from __future__ import annotations

import argparse
import sys

from sketchcolor.cli import (
    colorize,
    evaluate,
    fid,
    hints,
    models,
    quickstart,
    shards,
    synth,
    train,
    verify,
)
from sketchcolor.errors import SketchcolorError

COMMAND_MODULES = (
    quickstart, synth, shards, verify, hints, models, train, evaluate, fid, colorize,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sketchcolor",
        description="GAN sketch colorization: synthetic pairs, shards, training, evaluation.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SketchcolorError as error:
        print(f"sketchcolor {args.command}: error: {error}", file=sys.stderr)
        return 2
