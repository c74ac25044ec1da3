"""How many 512x512 sketches per second does `sketchcolor serve` colour, and how long does one take?

Starts `sketchcolor serve` in its own process (the CLI, its default queue concurrency) on a run
(given with --run, else a freshly trained tiny one: synthetic 512 px shards, one step) and
drives `/colorize` through gradio_client with 1 and then 4 concurrent clients, each sending
512x512 sketches with two hint labels. Reports requests/s over the wall clock and per-request
latency (p50, p95, measured at the client: upload, queue, colouring and download).

Usage: python benchmarks/bench_serve.py --quick --json benchmarks/results/bench_serve-cpu.json
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, write_result  # noqa: E402

SIZE = 512
HINTS = json.dumps([{"x": 128, "y": 160, "color": "#e04040"},
                    {"x": 380, "y": 300, "color": "#4060e0"}])  # fmt: skip


def tiny_run(folder: Path, model: str, width: float) -> Path:
    """A hints run trained for one step at 512 px on synthetic shards (weights do not matter
    for speed; the architecture and size do)."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    write_synthetic_dataset(folder / "synth", SynthConfig(count=8, size=SIZE, seed=0,
                                                          val_fraction=0.25), progress=False)  # fmt: skip
    prepare_shards(folder / "synth", folder / "shards", ShardConfig(shard_size=8), progress=False)
    config = tiny_config(folder / "shards", folder / f"m{model}-hints", model=model, size=SIZE,
                         width=width, color_control="hints", max_steps=1, batch_size=2,
                         save_every=1, sample_every=0)  # fmt: skip
    return train(config)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(run: Path, port: int, concurrency: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "sketchcolor", "serve", str(run), "--port", str(port),
               "--device", "cpu", "--concurrency", str(concurrency)]  # fmt: skip
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def connect(url: str, server: subprocess.Popen, timeout: float = 180):
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(1)
    raise SystemExit(f"no server at {url} after {timeout} s")


def measure(url: str, sketch: Path, run_name: str, clients: int, per_client: int) -> dict:
    """`clients` threads, each with its own connection, each sending `per_client` requests."""
    from gradio_client import Client, handle_file

    connections = [Client(url, verbose=False) for _ in range(clients)]

    def one_client(client) -> list[float]:
        latencies = []
        for _ in range(per_client):
            start = time.perf_counter()
            client.predict(handle_file(str(sketch)), run_name, HINTS, "", api_name="/colorize")
            latencies.append(time.perf_counter() - start)
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for result in pool.map(one_client, connections) for t in result]
    wall = time.perf_counter() - start
    quantiles = statistics.quantiles(latencies, n=20, method="inclusive")  # 5% steps
    return {
        "clients": clients,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 3),
        "latency_p50_s": round(statistics.median(latencies), 4),
        "latency_p95_s": round(quantiles[18], 4),
    }


def colorize_seconds(run: Path, sketch: Path) -> float:
    """Median seconds of the colouring alone (colorize_sketch in this process, no HTTP)."""
    from common import median_time

    from sketchcolor.inference.colorizer import colorize_sketch, load_colorizer
    from sketchcolor.inference.controls import user_controls
    from sketchcolor.inference.sketch_files import read_sketch

    colorizer = load_colorizer(run, "cpu")
    controls = user_controls(colorizer.config.color_control, run, palette=None,
                             palette_from=None, hints_png=None, hints_json=None,
                             hints_text=HINTS)  # fmt: skip
    image = read_sketch(sketch)
    return median_time(lambda: colorize_sketch(colorizer, image, controls), warmup=1, repeats=5)


def main() -> None:
    from gradio_client import handle_file

    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="run folder to serve (default: a tiny one)")
    parser.add_argument("--model", default="2.1", help="model of the tiny run (default 2.1)")
    parser.add_argument("--width", type=float, default=None, help="tiny run width (default 1/8)")
    parser.add_argument("--concurrency", type=int, default=2, help="server concurrency")
    args = parser.parse_args()
    per_client = {1: 8, 4: 4} if args.quick else {1: 20, 4: 10}
    width = args.width or 0.125

    with tempfile.TemporaryDirectory(prefix="bench_serve-") as scratch:
        scratch = Path(scratch)
        run = args.run or tiny_run(scratch, args.model, width)
        sketch = scratch / "sketch.png"
        rng = np.random.default_rng(0)
        Image.fromarray(np.where(rng.random((SIZE, SIZE)) < 0.05, 0, 255).astype(np.uint8),
                        "L").save(sketch)  # fmt: skip
        port = free_port()
        server = start_server(run, port, args.concurrency)
        try:
            url = f"http://127.0.0.1:{port}/"
            client = connect(url, server)
            for _ in range(2):  # warm-up: first calls pay for lazy imports and allocations
                client.predict(handle_file(str(sketch)), run.name, HINTS, "", api_name="/colorize")
            rows = [measure(url, sketch, run.name, clients, count)
                    for clients, count in per_client.items()]  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
        alone = colorize_seconds(run, sketch)
    from sketchcolor.runs import read_run_config

    model = read_run_config(run).model if args.run else args.model
    write_result("bench_serve", {
        "sketch": f"{SIZE}x{SIZE}, 2 hint labels",
        "run": str(args.run) if args.run else f"tiny Model {args.model} hints, width {width}, 512 px",
        "model": model,
        "server_concurrency": args.concurrency,
        "device": "cpu",
        "gradio": metadata.version("gradio"),
        "colorize_alone_s": round(alone, 4),
        "rows": rows,
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
