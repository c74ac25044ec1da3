"""Shared fixtures: a small synthetic pair folder and the shards prepared from it.

Both are session-scoped (made once per test run) and must be treated as read-only; copy them
(`shutil.copytree`) before changing anything.

Usage: def test_x(shard_dir): manifest = json.loads((shard_dir / "manifest.json").read_text())
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tests.support.sizes import SERVED_MAX_PIXELS, SHARD_SIZE

_finished_sessions: list = []
"""The session, once every plugin's pytest_sessionfinish (the summary among them) has run."""


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session, exitstatus):
    """After the other plugins' session-end work, name what a test left running that an
    interpreter's exit would wait for: non-daemon threads (joined at exit, thread-pool
    workers among them) and child processes."""
    import threading

    import psutil

    result = yield  # an error here skips the early exit below: pytest reports it as usual
    threads = [t.name for t in threading.enumerate()
               if t is not threading.main_thread() and not t.daemon and t.is_alive()]  # fmt: skip
    children = [" ".join(child.cmdline()[:3]) for child in psutil.Process().children()
                if child.status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    if threads or children:
        print(f"\nleft running after the tests: threads {threads}, processes {children}")
    _finished_sessions.append(session)
    return result


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process as soon as pytest has reported, with its status: a thread, child
    or native pool that hundreds of in-process tests left behind must not hold CI after the
    results are in (a CI run once printed all passed, then hung at exit until its time ran
    out). The product's own exits are tested in subprocesses, which exit normally."""
    if _finished_sessions:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(_finished_sessions[-1].exitstatus))


@pytest.fixture(scope="session", autouse=True)
def verified_cache_in_tmp(tmp_path_factory):
    """Shard verification remembers tars in a per-test-run cache, never in the user's home."""
    os.environ["SKETCHCOLOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


SYNTH_COUNT = 32
SYNTH_SIZE = 64
SYNTH_VAL_FRACTION = 0.25  # 24 train + 8 val pairs


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A synthetic pair folder in the Kaggle layout: data/train (24) and data/val (8), 64x64 halves."""
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(
        count=SYNTH_COUNT, size=SYNTH_SIZE, seed=0, val_fraction=SYNTH_VAL_FRACTION
    )
    write_synthetic_dataset(root, config, progress=False)
    return root


@pytest.fixture(scope="session")
def shard_dir(synth_root, tmp_path_factory) -> Path:
    """JPEG shards of `synth_root`: 4 train tars + 2 val tars, .idx files, manifest.json."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards

    out = tmp_path_factory.mktemp("shards") / "shards"
    prepare_shards(synth_root, out, ShardConfig(shard_size=SHARD_SIZE, seed=0), progress=False)
    return out


@pytest.fixture(scope="session")
def served_runs(shard_dir, tmp_path_factory) -> dict[str, Path]:
    """Two tiny trained runs for the web app: "hints" and "palette" (256 px, width 1/16)."""
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    root = tmp_path_factory.mktemp("served_runs")
    runs = {}
    for control in ("hints", "palette"):
        config = tiny_config(shard_dir, root / control, color_control=control, max_steps=2,
                             batch_size=2, save_every=2, sample_every=0, log_every=1)  # fmt: skip
        runs[control] = train(config)
    return runs


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (skipped, saying why, where either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                   "(pip install -e '.[test]')")  # fmt: skip
    from tests.support.browser_page import chromium_path

    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium executable (apt-get install chromium); the browser test needs it")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


# The served app's pixel limit: far above every test sketch, low enough that a sketch over it
# uploads quickly on a loaded machine (a 17 MP file over the 16 MP default took long enough to
# time the client out). The default itself is checked in test_serve_cli.py.


@pytest.fixture(scope="module")
def serve_url(served_runs, shard_dir):
    """`sketchcolor serve` on both served runs, on 127.0.0.1 and a free port, once per module."""
    pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
    from sketchcolor.serve.app import ServeConfig, start

    port = free_port()
    config = ServeConfig(runs=[served_runs["hints"], served_runs["palette"]], port=port,
                         data=shard_dir, device="cpu", max_pixels=SERVED_MAX_PIXELS)  # fmt: skip
    app = start(config, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()
