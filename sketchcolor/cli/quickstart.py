"""`sketchcolor quickstart`: the whole pipeline on built-in synthetic data (CPU, minutes).

Usage: sketchcolor quickstart [--out quickstart]
"""

from __future__ import annotations

NAME = "quickstart"
HELP = "synth -> shards -> train -> evaluate -> colorize on synthetic data"
DESCRIPTION = (
    "Write synthetic pairs, shard them, train small Models 1 and 2.1 with color controls "
    "none and hints, evaluate them and colorize a few validation sketches. Runs on a CPU in "
    "a few minutes; re-running reuses what is there."
)


def options():
    from sketchcolor.quickstart import QuickstartConfig

    return QuickstartConfig


def run(config) -> int:
    from sketchcolor.quickstart import run_quickstart

    run_quickstart(config)
    return 0
