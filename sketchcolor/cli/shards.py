"""`sketchcolor shards SRC OUT`: validate pairs and write WebDataset shards with palettes.

The options are `sketchcolor.config.ShardsCommandConfig` (SRC, OUT and `ShardConfig`'s
fields as flat flags); `write_shards` runs them.

Usage: sketchcolor shards my-synth my-shards --shard-size 1000 --workers 4
       sketchcolor shards --add-regions my-old-shards   (region maps added in place)
"""

from __future__ import annotations

NAME = "shards"
HELP = "turn a folder of pairs into WebDataset shards + DALI indexes + manifest"
DESCRIPTION = (
    "Validate every pair of SRC (Kaggle layout data/train + data/val, or a flat folder split "
    "90/10 by file-name hash), compute its 9-color palette, and write shuffled WebDataset "
    "shards (each sample with its sketch's region map), a DALI .idx per tar and manifest.json "
    "into OUT. Re-running into the same OUT completes missing shards. --add-regions SHARDS "
    "adds region maps in place to shards written before they were stored."
)


def options():
    from sketchcolor.config import ShardsCommandConfig

    return ShardsCommandConfig


def run(config) -> int:
    from sketchcolor.data.shards.write import write_shards

    if config.add_regions is not None:
        from sketchcolor.data.shards.add_regions import add_regions

        print(add_regions(config.add_regions))
        return 0

    result = write_shards(config.source, config.out, config.shards)
    print(f"{config.out}: {result.summary()}")
    for item in result.manifest["rejected"]:
        print(f"  rejected {item['file']}: {item['reason']}")
    return 0
