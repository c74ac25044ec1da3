"""Options of `sketchcolor serve` (its command line is generated from these fields).

Usage: ServeConfig(runs=[Path("runs/hints")])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from tyro.conf import FlagCreatePairsOff, Positional

from sketchcolor.config.constants import DEFAULT_MAX_FILE_SIZE, MAX_SKETCH_PIXELS, Engine
from sketchcolor.config.shared import Device, ShardCache


@dataclass(kw_only=True)
class ServeConfig:
    """Options of `sketchcolor serve` (its command line is generated from these fields)."""

    runs: Positional[list[Path]]
    """Run folders to serve (config.json + weights); each is chosen in the app by its folder name."""

    host: str = "127.0.0.1"
    """Address to listen on; 0.0.0.0 serves other machines too, and then needs a login
    (--auth-file) or --no-auth."""

    port: int = 7860
    """Port to listen on."""

    device: Device = None

    data: str | Path | None = None
    """Shard folder (`sketchcolor shards` output) or s3://BUCKET/PREFIX whose first val
    sketches are shown as examples."""

    shard_cache: ShardCache = None

    max_pixels: int = MAX_SKETCH_PIXELS
    """Sketches with more pixels than this are refused with a message (about 16 MP)."""

    max_file_size: str = DEFAULT_MAX_FILE_SIZE
    """Uploads larger than this (20MB, 512KB, 1GB; KB = 1024 bytes) are refused with a message."""

    url_inputs: bool = False
    """Let API calls give a file as an http(s) URL that the server fetches (public addresses
    only, stopped at --max-file-size). Off: such a call is refused before anything is fetched."""

    auth: str | None = field(default=None, repr=False)
    """USER:PASSWORD needed to open the app and its API. Other users of this machine see it in
    the process list: prefer --auth-file or $SKETCHCOLOR_SERVE_AUTH (one USER:PASSWORD)."""

    auth_file: Path | None = None
    """A file of user:password lines (blank lines and # comments allowed): each may log in."""

    no_auth: Annotated[bool, FlagCreatePairsOff] = False
    """Serve a non-loopback --host without a login: anyone who reaches it may use it."""

    login_failures: int = 5
    """Failed logins one client address may make within --login-window seconds; its next
    attempts are refused, with a message saying when to retry, until the window has passed
    (0: no bound)."""

    login_user_failures: int = 20
    """Failed logins for one user name, from all addresses together, within --login-window
    seconds, before that name's attempts are refused the same way (0: no bound). Keep it above
    --login-failures, so that one guessing address cannot lock a user out."""

    login_window: float = 60.0
    """Seconds a failed login counts against its address and its user name."""

    concurrency: int = 2
    """Requests colored at once; the rest wait in Gradio's queue."""

    examples: int = 4
    """How many val sketches `data` gives as examples."""

    engine: Engine = "torch"
    """Who runs the generators: PyTorch, or onnxruntime (the onnx extra; each run's
    generator.onnx from `sketchcolor export` when current, else exported at start)."""

    flatten: bool = False
    """Flatten every output: one colour per region the sketch's lines close, a label's colour
    where one sits, else the network's median over the region (sketchcolor.inference.flattening)."""
