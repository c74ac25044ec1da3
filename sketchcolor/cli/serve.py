"""`sketchcolor serve`: a web app and API that color sketches with trained runs (needs gradio).

The options are `sketchcolor.config.ServeConfig` (no torch, so `--help` is quick);
sketchcolor.serve.app, which imports torch but not gradio, is imported by `run`, which reports a
missing gradio extra before any model is loaded.

Usage: sketchcolor serve runs/m21-hints runs/m21-palette --port 7860 --data shards
       sketchcolor serve runs/m21-hints --host 0.0.0.0 --auth-file accounts.txt
"""

from __future__ import annotations

NAME = "serve"
HELP = "color sketches in the browser (Gradio app + /colorize API)"
DESCRIPTION = (
    "Load every run once and serve a web app: upload a sketch, click hint labels or set a "
    "palette, download the colorized PNG. The same is an API endpoint /colorize (sketch, run, "
    "hints JSON, palette). Beyond 127.0.0.1 it needs accounts (--auth-file, one user:password "
    "a line) or --no-auth. Needs the 'ui' extra: pip install -e '.[ui]'."
)


def options():
    from sketchcolor.config import ServeConfig

    return ServeConfig


def run(config) -> int:
    from sketchcolor.serve.app import require_gradio, start

    require_gradio()  # before loading any model: say how to install it first
    start(config, block=True)
    return 0
