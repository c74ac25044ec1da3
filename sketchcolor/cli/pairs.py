"""`sketchcolor pairs SRC OUT`: make sketch/color pairs from your own color images.

The options are `sketchcolor.config.PairsConfig` (its line-art options, from
`LineArtConfig`, are flat flags: --method, --sigma ...).

Usage: sketchcolor pairs my-images my-pairs --size 512 --fit crop --method xdog --workers 4
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

NAME = "pairs"
HELP = "make sketch/color pairs (Kaggle layout) from a folder of color images"
DESCRIPTION = (
    "Find every image under SRC (recursive: PNG, JPEG, WebP, BMP), make it square (centre crop "
    "or white padding), resize it to SIZE x SIZE (antialiased), draw its line art (XDoG, or "
    "Sobel + hysteresis; batched with torch on the CPU or a GPU), and write OUT/data/train and "
    "OUT/data/val pairs (color left, line art right), split by a hash of the file name. "
    "`sketchcolor shards OUT SHARDS` takes OUT as it is. Unusable files are skipped and listed "
    "in OUT/pairs-report.json; re-running into the same OUT writes only the missing pairs."
)


def options():
    """The options dataclass: SRC, OUT and PairsConfig's fields as flat flags."""
    from tyro.conf import OmitArgPrefixes, Positional, arg

    from sketchcolor.config import PairsConfig

    return dataclasses.make_dataclass(
        "PairsOptions",
        [
            (
                "source",
                Positional[Annotated[Path, arg(metavar="SRC", help="folder of color images")]],
            ),
            (
                "out",
                Positional[Annotated[Path, arg(metavar="OUT", help="output folder for the pairs")]],
            ),
            ("pairs", OmitArgPrefixes[PairsConfig], dataclasses.field(default_factory=PairsConfig)),
        ],
        kw_only=True,
    )


def run(options) -> int:
    from sketchcolor.data.sources.make_pairs import make_pairs

    result = make_pairs(options.source, options.out, options.pairs)
    print(f"{options.out}: {result.summary()}")
    for item in result.skipped:
        print(f"  skipped {item['file']}: {item['reason']}")
    for name in result.orphans:
        print(
            f"  {name}: no image under SRC makes this pair any more (kept; delete it if unwanted)"
        )
    return 0
