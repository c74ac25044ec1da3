"""File inputs given as URLs (issue 36): refused unless `serve --url-inputs`, and then held to
the upload limit (--max-file-size) while they stream. A small HTTP server on 127.0.0.1 serves
the files and counts what it is asked for; each app has a 64 KB limit."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.processes import free_port
from tests.support.sizes import SERVED_MAX_PIXELS

pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
gradio_client = pytest.importorskip("gradio_client", reason="needs the test extra")
from gradio_client import Client, handle_file  # noqa: E402

RUN_NAME = "url-inputs-run"
LIMIT = 64 * 1024
TIMEOUT = {"timeout": 120}


@pytest.fixture(scope="module")
def file_server(tmp_path_factory):
    """http://127.0.0.1:PORT/NAME for the files of a folder: sketch.png (a few KB), big.png
    (120 KB) and, at /unsized/big.png, the same without a Content-Length. Its `asked` list
    holds every path requested."""
    folder = tmp_path_factory.mktemp("url-files")
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((120, 200)) < 0.1, 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "L").save(folder / "sketch.png")
    noise = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "big.png")
    assert (folder / "sketch.png").stat().st_size < LIMIT < (folder / "big.png").stat().st_size
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            asked.append(self.path)
            if not self.path.startswith("/unsized/"):
                return super().do_GET()
            self.send_response(200)  # no Content-Length: the body ends when the socket closes
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write((folder / self.path.removeprefix("/unsized/")).read_bytes())
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.asked = asked
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()


def serve_app(run_dir, **options):
    from sketchcolor.serve.app import ServeConfig, start

    port = free_port()
    config = ServeConfig(runs=[run_dir], port=port, device="cpu", max_file_size="64KB",
                         max_pixels=SERVED_MAX_PIXELS, **options)  # fmt: skip
    return start(config, block=False), f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def run_dir(served_runs, tmp_path_factory):
    target = tmp_path_factory.mktemp("url-inputs") / RUN_NAME
    shutil.copytree(served_runs["hints"], target)
    return target


def colorize_url(url: str, file_url: str):
    client = Client(url, verbose=False, httpx_kwargs=TIMEOUT)
    return client.predict(handle_file(file_url), RUN_NAME, "", "", api_name="/colorize")


def test_url_inputs_are_refused_unless_enabled_and_nothing_is_fetched(run_dir, file_server):
    app, url = serve_app(run_dir)
    try:
        file_server.asked.clear()
        with pytest.raises(Exception, match="URL inputs are off on this server"):
            colorize_url(url, f"{file_server.url}/sketch.png")
        assert file_server.asked == []  # refused before any fetch
    finally:
        app.close()


def test_enabled_url_inputs_stop_at_the_upload_limit(run_dir, file_server, monkeypatch):
    from sketchcolor.serve import url_inputs

    async def loopback_allowed(url):  # the test's files are on 127.0.0.1, which Gradio's
        return None  # address check refuses (tested by Gradio): only that check is skipped

    monkeypatch.setattr(url_inputs, "verified_transport", loopback_allowed)
    app, url = serve_app(run_dir, url_inputs=True)
    try:
        for name in ("big.png", "unsized/big.png"):  # announced size, and none announced
            with pytest.raises(Exception, match=f"exceeds the maximum file size of {LIMIT} bytes"):
                colorize_url(url, f"{file_server.url}/{name}")
        cache = Path(next(iter(app.blocks.values())).GRADIO_CACHE)
        assert not list(cache.rglob("big.png"))  # nothing over the limit is left on disk
        out = colorize_url(url, f"{file_server.url}/sketch.png")
        assert np.asarray(Image.open(out).convert("RGB")).shape == (120, 200, 3)
    finally:
        app.close()
