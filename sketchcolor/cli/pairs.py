"""`sketchcolor pairs SRC OUT`: make sketch/color pairs from your own color images.

The options are `sketchcolor.config.PairsCommandConfig` (SRC, OUT and `PairsConfig`, whose
line-art options, from `LineArtConfig`, are flat flags: --method, --sigma ...).

Usage: sketchcolor pairs my-images my-pairs --size 512 --fit crop --method xdog --workers 4
"""

from __future__ import annotations

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
    from sketchcolor.config import PairsCommandConfig

    return PairsCommandConfig


def run(config) -> int:
    from sketchcolor.data.sources.make_pairs import make_pairs

    result = make_pairs(config.source, config.out, config.pairs)
    print(f"{config.out}: {result.summary()}")
    for item in result.skipped:
        print(f"  skipped {item['file']}: {item['reason']}")
    for name in result.orphans:
        print(
            f"  {name}: no image under SRC makes this pair any more (kept; delete it if unwanted)"
        )
    return 0
