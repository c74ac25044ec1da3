"""`python -m sketchcolor.train FLAGS`: the same as `sketchcolor train FLAGS`, for launchers.

`accelerate launch -m sketchcolor.train` and `torchrun --nproc_per_node N -m sketchcolor.train`
run this module; the loop itself is `sketchcolor.training.loop.train`, re-exported here.

Usage: python -m sketchcolor.train --data shards --model 2.1 --color hints --out runs/m21-hints
"""

from __future__ import annotations

import sys

from sketchcolor.training.loop import train

__all__ = ["main", "train"]


def main(argv: list[str] | None = None) -> int:
    """Parse the training flags (and --config) and train; errors are one line, exit status 2."""
    from sketchcolor.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
