"""Prepare WebDataset shards from a folder of pairs: the same as `sketchcolor shards SRC OUT`.

Same options, same output bytes, same summary line and exit codes (2 for a user error): it
hands its arguments to the `shards` sub-command.

Usage: python shards/prepare.py raw shards --workers 4
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a clone without `pip install -e .`, the package sits one folder up.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sketchcolor.cli import main

    sys.exit(main(["shards", *sys.argv[1:]]))
