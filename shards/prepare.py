"""Prepare WebDataset shards from a folder of pairs: the same as `sketchcolor shards SRC OUT`.

Usage: python shards/prepare.py raw shards --workers 4
"""

from __future__ import annotations

import sys

from sketchcolor.cli import main

if __name__ == "__main__":
    sys.exit(main(["shards", *sys.argv[1:]]))
