"""The `sketchcolor` command: each sub-command lives in its own module in this package.

A command module has NAME, HELP (one line for `sketchcolor --help`), `options()` (its options
dataclass, imported lazily) and `run(options)`. The command line is generated from the
dataclass and its field docstrings by tyro (`parse_options`), with `--config FILE` (YAML, TOML
or JSON) giving defaults that flags override. Heavy imports (torch, DALI) happen inside `run`,
so `sketchcolor --help` stays fast. A reader that closes the pipe early (`| head`, `| less` then
q) ends the command quietly with exit status 141, as a process killed by SIGPIPE.

Usage: sketchcolor synth my-synth --count 100 --size 256
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sketchcolor.cli import (
    colorize,
    datasets,
    evaluate,
    export,
    fid,
    hints,
    models,
    pairs,
    quickstart,
    serve,
    shards,
    synth,
    train,
    verify,
)
from sketchcolor.cli.options import CONFIG_NOTE, parse_options
from sketchcolor.errors import SketchcolorError

COMMAND_MODULES = (
    quickstart, synth, datasets, pairs, shards, verify, hints, models, train, evaluate, fid, colorize, serve, export,
)  # fmt: skip
# 128 + SIGPIPE: what a shell reports for `git log | head` or `yes | head`, so a pipeline under
# `set -o pipefail` sees what it sees for any Unix tool. Not 1, which `verify` (damaged shards)
# and `evaluate` (a failed run) already mean.
BROKEN_PIPE_STATUS = 141


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: lists the commands (each command parses its own options)."""
    parser = argparse.ArgumentParser(
        prog="sketchcolor",
        description="GAN sketch colorization: synthetic pairs, shards, training, evaluation.",
        epilog="`sketchcolor COMMAND --help` shows a command's options. " + CONFIG_NOTE,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        subparsers.add_parser(module.NAME, help=module.HELP, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `sketchcolor ARGV`; the exit status (help and bad command lines exit via SystemExit)."""
    try:
        try:
            status = dispatch(argv)
        except SystemExit:  # help was printed: flush it here, where a closed pipe is caught
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # inside the try: else a closed pipe shows at interpreter exit
        return status
    except BrokenPipeError:
        return quiet_broken_pipe()


def quiet_broken_pipe() -> int:
    """The reader of stdout went away: send what is still buffered to devnull (so Python's own
    flush at exit cannot fail again) and exit quietly; the recipe in the docs of `signal`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a replaced stdout without a descriptor
        pass
    return BROKEN_PIPE_STATUS


def dispatch(argv: Sequence[str] | None = None) -> int:
    """Find the command in `argv`, parse its options and run it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {module.NAME: module for module in COMMAND_MODULES}
    module = commands.get(argv[0]) if argv else None
    if module is None:
        build_parser().parse_args(argv)  # help, no command or an unknown one: argparse exits
    name = argv[0]

    def parse_and_run():
        options = parse_options(
            module.options(), argv[1:], prog=f"sketchcolor {name}", description=module.DESCRIPTION
        )
        return module.run(options)

    return _run(name, parse_and_run)


def _run(name: str, work) -> int:
    """Run a command; a SketchcolorError becomes one line on stderr and exit status 2."""
    try:
        return int(work() or 0)
    except SketchcolorError as error:
        print(f"sketchcolor {name}: error: {error}", file=sys.stderr)
        return 2
