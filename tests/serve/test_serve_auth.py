"""`sketchcolor serve` behind a login: gradio_client with and without an account, plain HTTP
without the session cookie, the upload limit, and the login page in a real browser.

One authenticated server for the module: alice from an auth file, bob from
$SKETCHCOLOR_SERVE_AUTH, a 64 KB upload limit, one run under a name found nowhere else.
"""

from __future__ import annotations

import os
import shutil

import httpx
import numpy as np
import pytest
from PIL import Image

from sketchcolor.serve.access import AUTH_VARIABLE
from tests.support.processes import free_port
from tests.support.sizes import SERVED_MAX_PIXELS

gradio_client = pytest.importorskip("gradio_client", reason="needs the test extra")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AuthenticationError  # noqa: E402

RUN_NAME = "studio-hints-7f3a"
ALICE = ("alice", "correct:horse battery")
BOB = ("bob", "staple-42")
LIMIT = 64 * 1024
TIMEOUT = {"timeout": 120}  # a loaded 2-core machine can keep a request waiting


@pytest.fixture(scope="module")
def run_dir(served_runs, tmp_path_factory):
    target = tmp_path_factory.mktemp("auth") / RUN_NAME
    shutil.copytree(served_runs["hints"], target)
    return target


@pytest.fixture(scope="module")
def auth_url(run_dir, tmp_path_factory):
    pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
    from sketchcolor.serve.app import ServeConfig, start

    accounts = tmp_path_factory.mktemp("accounts") / "accounts.txt"
    accounts.write_text(f"# studio accounts\n\n{ALICE[0]}:{ALICE[1]}\n")
    port = free_port()
    config = ServeConfig(runs=[run_dir], port=port, device="cpu", auth_file=accounts,
                         max_file_size="64KB", max_pixels=SERVED_MAX_PIXELS)  # fmt: skip
    previous = os.environ.get(AUTH_VARIABLE)
    os.environ[AUTH_VARIABLE] = f"{BOB[0]}:{BOB[1]}"  # read once, at start
    try:
        app = start(config, block=False)
    finally:
        if previous is None:
            del os.environ[AUTH_VARIABLE]
        else:
            os.environ[AUTH_VARIABLE] = previous
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small sketch (a few KB) and a noise PNG over the 64 KB limit but under the pixel one."""
    folder = tmp_path_factory.mktemp("auth-files")
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((120, 200)) < 0.1, 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "L").save(folder / "sketch.png")
    noise = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)  # 120 KB, 40000 pixels
    Image.fromarray(noise).save(folder / "big.png")
    assert (folder / "sketch.png").stat().st_size < LIMIT < (folder / "big.png").stat().st_size
    return folder


def colorize_with(client, sketch) -> np.ndarray:
    out = client.predict(handle_file(str(sketch)), RUN_NAME, "", "", api_name="/colorize")
    return np.asarray(Image.open(out).convert("RGB"))


def test_the_client_needs_an_account(auth_url):
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(auth_url, verbose=False, httpx_kwargs=TIMEOUT)
    with pytest.raises(ValueError, match="Could not login"):
        Client(auth_url, auth=(ALICE[0], "wrong"), verbose=False, httpx_kwargs=TIMEOUT)
    with pytest.raises(ValueError, match="Could not login"):
        Client(auth_url, auth=(BOB[0], ALICE[1]), verbose=False, httpx_kwargs=TIMEOUT)


def test_both_accounts_get_what_sketchcolor_colorize_writes(auth_url, run_dir, files, tmp_path):
    from sketchcolor.inference.colorize import colorize

    expected = colorize(files / "sketch.png", run_dir, tmp_path / "cli.png", device="cpu")[0]
    expected = np.asarray(Image.open(expected).convert("RGB"))
    for account in (ALICE, BOB):
        client = Client(auth_url, auth=account, verbose=False, httpx_kwargs=TIMEOUT)
        assert np.array_equal(colorize_with(client, files / "sketch.png"), expected), account[0]


def test_plain_http_without_the_session_cookie_is_refused(auth_url, files):
    client = Client(auth_url, auth=ALICE, verbose=False, httpx_kwargs=TIMEOUT)
    with open(files / "sketch.png", "rb") as sketch:
        uploaded = httpx.post(f"{auth_url}gradio_api/upload", cookies=client.cookies,
                              files={"files": ("sketch.png", sketch)}, **TIMEOUT)  # fmt: skip
    assert uploaded.status_code == 200
    upload_path = uploaded.json()[0]
    join = {"data": [], "fn_index": 0, "session_hash": "nobody"}
    refused = [
        httpx.get(f"{auth_url}config", **TIMEOUT),
        httpx.get(f"{auth_url}gradio_api/info", **TIMEOUT),
        httpx.get(f"{auth_url}gradio_api/openapi.json", **TIMEOUT),
        httpx.post(f"{auth_url}gradio_api/upload", files={"files": ("a.png", b"x")}, **TIMEOUT),
        httpx.post(f"{auth_url}gradio_api/queue/join", json=join, **TIMEOUT),
        httpx.get(f"{auth_url}gradio_api/queue/data?session_hash=nobody", **TIMEOUT),
        httpx.post(f"{auth_url}gradio_api/call/colorize", json={"data": []}, **TIMEOUT),
        httpx.post(f"{auth_url}gradio_api/run/colorize", json={"data": []}, **TIMEOUT),
        httpx.get(f"{auth_url}gradio_api/file={upload_path}", **TIMEOUT),
    ]
    for response in refused:
        assert response.status_code == 401, (response.request.url, response.status_code)
        assert response.json()["detail"]["error"] == "Not authenticated"
    allowed = httpx.get(f"{auth_url}gradio_api/file={upload_path}", cookies=client.cookies,
                        **TIMEOUT)  # fmt: skip
    assert allowed.status_code == 200
    assert allowed.content == (files / "sketch.png").read_bytes()
    # The page itself is the login form; the app (its run names) comes after logging in.
    page = httpx.get(auth_url, **TIMEOUT).text
    assert '"auth_required":true' in page.replace(" ", "") and RUN_NAME not in page
    assert RUN_NAME in httpx.get(auth_url, cookies=client.cookies, **TIMEOUT).text
    login = httpx.post(f"{auth_url}login", data={"username": ALICE[0], "password": "x"}, **TIMEOUT)
    assert (login.status_code, login.json()) == (400, {"detail": "Incorrect credentials."})


def test_an_oversized_upload_is_refused_with_a_message_then_serving_goes_on(auth_url, files):
    client = Client(auth_url, auth=ALICE, verbose=False, httpx_kwargs=TIMEOUT)
    # gradio_client reads the limit from the app and refuses before sending...
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {LIMIT} bytes"):
        colorize_with(client, files / "big.png")
    # ...and the server refuses it when sent anyway.
    with open(files / "big.png", "rb") as big:
        response = httpx.post(f"{auth_url}gradio_api/upload", cookies=client.cookies,
                              files={"files": ("big.png", big)}, **TIMEOUT)  # fmt: skip
    assert (response.status_code, response.text) == (
        413, f"File size exceeded maximum allowed size of {LIMIT} bytes.")  # fmt: skip
    assert colorize_with(client, files / "sketch.png").shape == (120, 200, 3)


# ----------------------------------------------------------------------------- the browser


def log_in(page, user: str, password: str) -> None:
    """Fill the login form (a failed attempt empties the user name) and press Login."""
    page.locator("input[data-testid=textbox]").fill(user)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Login").click()


def test_the_page_opens_after_logging_in_only(browser, auth_url, files):
    from tests.support.browser_page import TIMEOUT_MS, fetch_image

    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(auth_url)
    page.wait_for_selector("input[type=password]", timeout=TIMEOUT_MS)
    assert page.locator("#sketch").count() == 0 and page.locator("#run-info").count() == 0
    assert RUN_NAME not in page.content()

    log_in(page, ALICE[0], BOB[1])  # a real user, someone else's password
    page.get_by_text("Incorrect Credentials").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#sketch").count() == 0 and RUN_NAME not in page.content()

    log_in(page, *ALICE)
    page.wait_for_selector("#sketch input[type=file]", state="attached", timeout=TIMEOUT_MS)
    assert RUN_NAME in page.locator("#run-info").inner_text()

    # Over the upload limit: a message on the page, and the next sketch is coloured.
    page.locator("#sketch input[type=file]").set_input_files(str(files / "big.png"))
    toast = page.get_by_text("exceed the maximum allowed size")
    toast.wait_for(timeout=TIMEOUT_MS)
    assert '"big.png"' in toast.inner_text()
    page.locator("#sketch input[type=file]").set_input_files(str(files / "sketch.png"))
    page.wait_for_function(
        "() => document.querySelector('#latency').innerText.includes('with " + RUN_NAME + "')",
        timeout=TIMEOUT_MS,
    )
    output = fetch_image(page, page.locator("#output img").get_attribute("src"))
    assert output.shape == (120, 200, 3)
    page.close()

    # A fresh browser context has no session cookie: the login form again, not the app.
    context = browser.new_context()
    again = context.new_page()
    again.goto(auth_url)
    again.wait_for_selector("input[type=password]", timeout=TIMEOUT_MS)
    assert again.locator("#sketch").count() == 0
    context.close()
