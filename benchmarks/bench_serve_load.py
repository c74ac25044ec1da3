"""Does `sketchcolor serve` stay right and bounded under mixed load, behind a login?

Starts `sketchcolor serve` in its own process (the CLI) on 127.0.0.1 with an auth file and a
small upload limit, on the given runs (--run, else two freshly trained tiny ones: hints and
palette, 256 px, width 1/16), then `--clients` threads (default 8), each logged in with its
own gradio_client connection, send `--requests` requests each (default 25), a fixed mix of:

- good: a sketch (three sizes) with hint labels or a palette to one of the runs; answered with
  an image whose pixels must equal `sketchcolor.inference.colorizer.colorize_sketch`'s in this process;
- oversized: a PNG over `--max-file-size` posted to the upload route; refused, 413 + message;
- non_image: a text file sent to `/colorize`; refused with "cannot read sketch";
- wrong_password: a login with a wrong password (refused, 400 + message), then the queue
  without a session cookie (refused, 401 + message).

Every request gets one outcome (none lost). Reports the outcomes and p50/p95 latency per kind
and the server process's resident memory after a warm-up round, after each of `--rounds` runs
of the load (new connections each time: is it bounded?) and at its peak.
tests/serve/test_serve_load.py runs the same code small and checks the outcomes, not the speed.

Usage: python benchmarks/bench_serve_load.py --json benchmarks/results/serve-load-cpu.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, write_result  # noqa: E402

KINDS = ("good", "oversized", "non_image", "wrong_password")
MIX = ("good", "oversized", "good", "non_image", "good", "wrong_password")
"""Request i of client c is MIX[(c + i) % 6]: half are good, the clients out of step."""
SKETCH_SIZES = ((256, 256), (320, 240), (200, 296))  # (width, height): one per good input
HINTS = [{"x": 60, "y": 50, "color": "#e04040"}, {"x": 150, "y": 120, "color": "#4060e0"}]
PALETTE = "#d94f4f,#f2c14e,#4f86d9,#5fb36b,#8e5fd9,#f28e4e,#4ed9d0,#7a5230,#f5e6d3"
MAX_FILE_SIZE = "256KB"
"""The load's upload limit: over every good sketch (tens of KB), under the oversized one."""
USER = "load"
TIMEOUT_S = 300  # per HTTP call; on a loaded 2-core machine a queued request can wait


@dataclasses.dataclass(frozen=True)
class GoodInput:
    """One good request: a sketch for one run, its controls and the pixels it must come back as."""

    sketch: Path
    run: str
    hints: str
    palette: str
    expected: np.ndarray  # (H, W, 3) uint8


@dataclasses.dataclass(frozen=True)
class Inputs:
    good: list[GoodInput]
    oversized: Path
    non_image: Path


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one request got: `ok` when it was answered as its kind must be."""

    kind: str
    ok: bool
    detail: str
    seconds: float


# ----------------------------------------------------------------------------- inputs


def tiny_runs(folder: Path) -> list[Path]:
    """Two runs trained for two steps on synthetic shards: hints and palette (256 px, 1/16)."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    write_synthetic_dataset(folder / "synth", SynthConfig(count=16, size=64, seed=0,
                                                          val_fraction=0.25), progress=False)  # fmt: skip
    prepare_shards(folder / "synth", folder / "shards", ShardConfig(shard_size=8), progress=False)
    return [train(tiny_config(folder / "shards", folder / control, color_control=control,
                              max_steps=2, batch_size=2, save_every=2, sample_every=0))
            for control in ("hints", "palette")]  # fmt: skip


def write_sketch(path: Path, size: tuple[int, int], seed: int) -> Path:
    """Sparse dark dots on white, as a grey PNG (a few KB to tens of KB)."""
    rng = np.random.default_rng(seed)
    pixels = np.where(rng.random(size[::-1]) < 0.05, 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "L").save(path)
    return path


def expected_pixels(run_dir: Path, sketch: Path, hints: str, palette: str, device: str):
    """What the server must answer: colorize_sketch on the same input, as the PNG it writes."""
    from sketchcolor.inference.colorizer import colorize_sketch, load_colorizer
    from sketchcolor.inference.controls import user_controls
    from sketchcolor.inference.sketch_files import read_sketch, write_png

    colorizer = load_colorizer(run_dir, device)
    controls = user_controls(colorizer.config.color_control, run_dir, palette=palette or None,
                             palette_from=None, hints_png=None, hints_json=None,
                             hints_text=hints or None)  # fmt: skip
    output = colorize_sketch(colorizer, read_sketch(sketch), controls)
    with tempfile.TemporaryDirectory() as scratch:
        write_png(output, Path(scratch) / "expected.png")
        return np.asarray(Image.open(Path(scratch) / "expected.png").convert("RGB"))


def write_inputs(folder: Path, runs: list[Path], max_file_size: int, device: str) -> Inputs:
    """The sketches (one per size, runs taken in turn), an oversized PNG and a text file."""
    from sketchcolor.data.controls.conditioning import uses_hints, uses_palette
    from sketchcolor.runs import read_run_config

    folder.mkdir(parents=True, exist_ok=True)
    good = []
    for index, size in enumerate(SKETCH_SIZES):
        run_dir = runs[index % len(runs)]
        control = read_run_config(run_dir).color_control
        sketch = write_sketch(folder / f"sketch-{index}.png", size, seed=index)
        if sketch.stat().st_size >= max_file_size:
            raise SystemExit(f"{sketch} is over the upload limit; raise --max-file-size")
        hints = json.dumps(HINTS) if uses_hints(control) else ""
        palette = PALETTE if uses_palette(control) else ""
        pixels = expected_pixels(run_dir, sketch, hints, palette, device)
        good.append(GoodInput(sketch, run_dir.resolve().name, hints, palette, pixels))
    # Noise does not compress: side x side x 3 bytes is over the limit, the pixels are few.
    side = int((max_file_size / 3) ** 0.5) + 32
    oversized = folder / "oversized.png"
    noise = np.random.default_rng(9).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(noise).save(oversized)
    assert oversized.stat().st_size > max_file_size, oversized.stat().st_size
    non_image = folder / "notes.png"  # a name that looks right, contents that are not
    non_image.write_text("not an image\n")
    return Inputs(good, oversized, non_image)


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_auth_file(path: Path) -> tuple[str, str]:
    """An auth file with one fresh account (and a comment and a blank line, as people write)."""
    password = secrets.token_urlsafe(12)
    path.write_text(f"# sketchcolor serve accounts\n\n{USER}:{password}\n")
    return USER, password


def start_server(runs: list[Path], port: int, auth_file: Path, log: Path, *,
                 max_file_size: str, concurrency: int, device: str) -> subprocess.Popen:  # fmt: skip
    """`sketchcolor serve` in its own process; its output goes to `log` (not a pipe, which
    a long load could fill)."""
    command = [sys.executable, "-m", "sketchcolor", "serve", *map(str, runs), "--port", str(port),
               "--device", device, "--concurrency", str(concurrency), "--auth-file",
               str(auth_file), "--max-file-size", max_file_size]  # fmt: skip
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("SKETCHCOLOR_SERVE_AUTH", None)  # the auth file is the only account
    with open(log, "wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 300):
    """Until the server answers (its login check refuses us: it is up), or exit with its log."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}gradio_api/login_check", timeout=10).status_code == 401:
                return
        except httpx.HTTPError:  # not listening yet
            pass
        time.sleep(1)
    raise RuntimeError(f"no server at {url} after {timeout} s: {log.read_text()[-2000:]}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


def rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


class PeakMemory:
    """The largest resident memory of a process, sampled every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every, self.peak = pid, every, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ----------------------------------------------------------------------------- the requests


def connect(url: str, account: tuple[str, str]):
    from gradio_client import Client

    return Client(url, auth=account, verbose=False, httpx_kwargs={"timeout": TIMEOUT_S})


def send_good(client, good: GoodInput) -> tuple[bool, str]:
    from gradio_client import handle_file

    out = client.predict(handle_file(str(good.sketch)), good.run, good.hints, good.palette,
                         api_name="/colorize")  # fmt: skip
    pixels = np.asarray(Image.open(out).convert("RGB"))
    if pixels.shape != good.expected.shape:
        return False, f"{good.sketch.name}: shape {pixels.shape}, expected {good.expected.shape}"
    differ = int((pixels != good.expected).any(axis=-1).sum())
    return differ == 0, f"{good.sketch.name} on {good.run}: {differ} pixels differ"


def send_oversized(client, url: str, path: Path) -> tuple[bool, str]:
    """Posted to the upload route itself: gradio_client would refuse it before sending."""
    import httpx

    with open(path, "rb") as file:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, file)},
                              cookies=client.cookies, timeout=TIMEOUT_S)  # fmt: skip
    text = response.text.strip()
    ok = response.status_code == 413 and "maximum allowed size" in text
    return ok, f"{response.status_code}: {text}"


def send_non_image(client, path: Path, run: str) -> tuple[bool, str]:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        client.predict(handle_file(str(path)), run, "", "", api_name="/colorize")
    except AppError as error:
        return "cannot read sketch" in str(error), str(error)
    return False, "a text file was answered with an image"


def send_wrong_password(url: str, user: str) -> tuple[bool, str]:
    """A wrong login is refused; so is the queue without the cookie a login gives."""
    import httpx

    login = httpx.post(f"{url}login", data={"username": user, "password": "not-" + user},
                       timeout=TIMEOUT_S)  # fmt: skip
    join = httpx.post(f"{url}gradio_api/queue/join", timeout=TIMEOUT_S,
                      json={"data": [], "fn_index": 0, "session_hash": "nobody"})  # fmt: skip
    ok = (login.status_code == 400 and "Incorrect credentials" in login.text
          and join.status_code == 401 and "Not authenticated" in join.text)  # fmt: skip
    return ok, f"login {login.status_code}: {login.text.strip()}; queue {join.status_code}"


def one_request(kind: str, number: int, client, url: str, inputs: Inputs) -> Outcome:
    """Send one request of `kind`; any exception is an outcome too (not ok), never lost."""
    start = time.perf_counter()
    try:
        if kind == "good":
            ok, detail = send_good(client, inputs.good[number % len(inputs.good)])
        elif kind == "oversized":
            ok, detail = send_oversized(client, url, inputs.oversized)
        elif kind == "non_image":
            ok, detail = send_non_image(client, inputs.non_image, inputs.good[0].run)
        else:
            ok, detail = send_wrong_password(url, USER)
    except Exception as error:  # a lost or failed request: recorded, not raised
        ok, detail = False, f"{type(error).__name__}: {error}"
    return Outcome(kind, ok, detail, time.perf_counter() - start)


def run_load(url: str, account: tuple[str, str], inputs: Inputs, clients: int,
             per_client: int) -> list[Outcome]:  # fmt: skip
    """`clients` threads, each logged in once, each sending `per_client` requests of the mix."""
    connections = [connect(url, account) for _ in range(clients)]

    def one_client(index: int) -> list[Outcome]:
        return [one_request(MIX[(index + number) % len(MIX)], index + number,
                            connections[index], url, inputs)
                for number in range(per_client)]  # fmt: skip

    with ThreadPoolExecutor(clients) as pool:
        return [outcome for result in pool.map(one_client, range(clients)) for outcome in result]


def summarize(outcomes: list[Outcome]) -> dict:
    """Per kind: requests, answered as they must be, p50 and p95 latency (seconds)."""
    rows = {}
    for kind in KINDS:
        times = sorted(o.seconds for o in outcomes if o.kind == kind)
        if not times:
            continue
        p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]  # fmt: skip
        rows[kind] = {
            "requests": len(times),
            "as_expected": sum(o.ok for o in outcomes if o.kind == kind),
            "latency_p50_s": round(statistics.median(times), 4),
            "latency_p95_s": round(p95, 4),
        }
    return rows


# ----------------------------------------------------------------------------- the benchmark


def serve_and_load(runs: list[Path], scratch: Path, *, clients: int, per_client: int,
                   rounds: int = 1, warmup: int = 1, concurrency: int = 2, device: str = "cpu",
                   max_file_size: str = MAX_FILE_SIZE) -> dict:  # fmt: skip
    """Start the server, warm it up (`warmup` rounds of the mix from each client), measure its
    memory, run the load `rounds` times (new connections each time), measuring it after each;
    the outcomes of every round, the summary and the server's log."""
    from sketchcolor.serve.access import parse_file_size

    inputs = write_inputs(scratch / "inputs", runs, parse_file_size(max_file_size), device)
    account = write_auth_file(scratch / "accounts.txt")
    port, log = free_port(), scratch / "server.log"
    server = start_server(runs, port, scratch / "accounts.txt", log, max_file_size=max_file_size,
                          concurrency=concurrency, device=device)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, server, log)
        warm = run_load(url, account, inputs, clients, warmup * len(MIX)) if warmup else []
        rss_before, rss_after, outcomes = rss_mib(server.pid), [], []
        start = time.perf_counter()
        with PeakMemory(server.pid) as peak:
            for _ in range(rounds):
                outcomes += run_load(url, account, inputs, clients, per_client)
                rss_after.append(round(rss_mib(server.pid), 1))
        wall = time.perf_counter() - start
        last = one_request("good", 0, connect(url, account), url, inputs)  # still serving
    finally:
        stop_server(server)
    memory = {"after_warmup": round(rss_before, 1), "after_each_round": rss_after,
              "peak": round(max(peak.peak, *rss_after), 1),
              "after_vs_warmup": round(rss_after[-1] / rss_before, 4)}  # fmt: skip
    return {
        "outcomes": outcomes,
        "warmup_outcomes": warm,
        "after_load": last,
        "log": log.read_text(),
        "password": account[1],
        "summary": summarize(outcomes),
        "wall_s": round(wall, 3),
        "rss_mib": memory,
    }


def main() -> None:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, action="append", help="run folder (repeatable; "
                        "default: two tiny ones, hints and palette)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=25, help="requests per client (25)")
    parser.add_argument("--rounds", type=int, default=1, help="times the load runs, memory "
                        "measured after each (default 1)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=2, help="server queue concurrency")
    parser.add_argument("--max-file-size", default=MAX_FILE_SIZE, help="the server's limit")
    parser.add_argument("--device", default="cpu", help="where the server colours (cpu)")
    args = parser.parse_args()
    clients, per_client = (4, 6) if args.quick else (args.clients, args.requests)

    with tempfile.TemporaryDirectory(prefix="bench_serve_load-") as scratch:
        scratch = Path(scratch)
        runs = args.run or tiny_runs(scratch / "runs")
        result = serve_and_load(runs, scratch, clients=clients, per_client=per_client,
                                rounds=args.rounds, concurrency=args.concurrency, device=args.device,
                                max_file_size=args.max_file_size)  # fmt: skip
    outcomes = result["outcomes"]
    failed = [dataclasses.asdict(o) for o in outcomes if not o.ok]
    lost = args.rounds * clients * per_client - len(outcomes)
    write_result("bench_serve_load", {
        "runs": [str(run) for run in args.run] if args.run else "two tiny runs (hints, palette), "
                "256 px, width 1/16, 2 steps",
        "clients": clients,
        "requests_per_client": per_client,
        "rounds": args.rounds,
        "mix": list(MIX),
        "sketches": [f"{w}x{h}" for w, h in SKETCH_SIZES],
        "server_concurrency": args.concurrency,
        "max_file_size": args.max_file_size,
        "device": args.device,
        "gradio": metadata.version("gradio"),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "requests": len(outcomes),
        "lost": lost,
        "all_as_expected": not failed and not lost and result["after_load"].ok,
        "failed": failed[:20],
        "password_in_server_log": result["password"] in result["log"],
        "wall_s": result["wall_s"],
        "kinds": result["summary"],
        "server_rss_mib": result["rss_mib"],
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
