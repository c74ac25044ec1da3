"""`sketchcolor serve`: a web app and API that colour sketches with trained runs (needs gradio).

Usage: sketchcolor serve runs/m21-hints runs/m21-palette --port 7860 --data shards
"""

from __future__ import annotations

import argparse
from pathlib import Path

# Plain numbers here, so `sketchcolor --help` imports neither torch nor gradio.
DEFAULT_MAX_PIXELS = 4096 * 4096


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="colour sketches in the browser (Gradio app + /colorize API)",
        description="Load every run once and serve a web app: upload a sketch, click hint "
        "labels or set a palette, download the colorized PNG. The same is an API endpoint "
        "/colorize (sketch, run, hints JSON, palette). Needs the 'ui' extra: "
        "pip install -e '.[ui]'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if any)")
    parser.add_argument("--data", type=Path, default=None,
                        help="shard folder whose val sketches are shown as examples")  # fmt: skip
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse sketches with more pixels than this")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=2,
                        help="requests coloured at once (the rest are queued)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.serve import ServeConfig, require_gradio, start

    require_gradio()  # before loading any model: say how to install it first
    config = ServeConfig(runs=args.runs, host=args.host, port=args.port, device=args.device,
                         data=args.data, max_pixels=args.max_pixels,
                         concurrency=args.concurrency)  # fmt: skip
    start(config, block=True)
    return 0
