"""`sketchcolor quickstart`: the whole pipeline on built-in synthetic data (CPU, minutes).

Usage: sketchcolor quickstart [--out quickstart]
"""

from __future__ import annotations

NAME = "quickstart"
HELP = "synth -> shards -> train -> evaluate -> colorize on synthetic data"
DESCRIPTION = (
    "Write synthetic pairs, shard them, train small Model 1 runs with color controls none, "
    "palette and hints, evaluate them, print how much each control lowers val L1 and "
    "colorize a few validation sketches. Runs on a 2-core CPU in about 10 minutes; "
    "re-running reuses what is there."
)


def options():
    from sketchcolor.quickstart import QuickstartConfig

    return QuickstartConfig


def run(config) -> int:
    from sketchcolor.quickstart import run_quickstart

    run_quickstart(config)
    return 0
