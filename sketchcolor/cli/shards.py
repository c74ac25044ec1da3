"""`sketchcolor shards SRC OUT`: validate pairs and write WebDataset shards with palettes.

Usage: sketchcolor shards my-synth my-shards --shard-size 1000 --workers 4
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tyro.conf import OmitArgPrefixes, Positional

from sketchcolor.config import ShardConfig

NAME = "shards"
HELP = "turn a folder of pairs into WebDataset shards + DALI indexes + manifest"
DESCRIPTION = (
    "Validate every pair of SRC (Kaggle layout data/train + data/val, or a flat folder split "
    "90/10 by file-name hash), compute its 9-color palette, and write shuffled WebDataset "
    "shards, a DALI .idx per tar and manifest.json into OUT. Re-running into the same OUT "
    "completes missing shards."
)


@dataclass(kw_only=True)
class ShardOptions:
    source: Positional[Path]
    """SRC: folder of pair images."""
    out: Positional[str | Path]
    """OUT: output folder for the shards, or s3://BUCKET/PREFIX (written locally under the
    shard cache, then uploaded: each tar and .idx, the manifest last)."""
    shards: OmitArgPrefixes[ShardConfig] = field(default_factory=ShardConfig)


def options():
    return ShardOptions


def run(options: ShardOptions) -> int:
    from sketchcolor.data.shards.guard import exit_on_stop_signals
    from sketchcolor.data.shards.write import prepare_shards, publish_shards
    from sketchcolor.util.locations import data_location, is_remote

    options.out = data_location(options.out)
    with exit_on_stop_signals(options.out):
        if is_remote(options.out):
            result = publish_shards(options.source, options.out, options.shards)
        else:
            result = prepare_shards(options.source, options.out, options.shards)
    print(f"{options.out}: {result.summary()}")
    for item in result.manifest["rejected"]:
        print(f"  rejected {item['file']}: {item['reason']}")
    return 0
