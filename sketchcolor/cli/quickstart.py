"""`sketchcolor quickstart`: the product at its best on OpenMoji's line art (CPU, minutes).

Usage: sketchcolor quickstart [--out quickstart] [--data synth]
"""

from __future__ import annotations

NAME = "quickstart"
HELP = "OpenMoji -> shards -> train the recipe -> benchmark -> quickstart.png"
DESCRIPTION = (
    "Render OpenMoji's line art into pairs (or generate shapes, --data synth), shard them, "
    "train Model 1 with the recipe (launch/configs/small-run.toml) under hint labels and "
    "mixed (labels + palette), print the val L1 and colour accuracy at 0/4/16/64 labels "
    "beside a paint bucket, and draw quickstart.png. Re-running resumes."
)


def options():
    from sketchcolor.config.quickstart import QuickstartConfig

    return QuickstartConfig


def run(config) -> int:
    from sketchcolor.quickstart import run_quickstart

    run_quickstart(config)
    return 0
