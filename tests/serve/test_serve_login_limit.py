"""The login's bound on guessing (issue 36): failed logins per client address and per user
name, configured small here (3 per address, 6 per name, in 60 s), on 127.0.0.1. Raw HTTP
comes from other loopback addresses (127.0.0.2, ...), gradio_client from 127.0.0.1; every
test makes a bounded number of requests and must finish in bounded time."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.sizes import SERVED_MAX_PIXELS

pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
gradio_client = pytest.importorskip("gradio_client", reason="needs the test extra")
from gradio_client import Client  # noqa: E402

RUN_NAME = "login-limit-run"
ALICE = ("alice", "correct:horse battery")
PER_ADDRESS, PER_USER, WINDOW = 3, 6, 60
TIMEOUT = 60


@pytest.fixture(scope="module")
def server_url(served_runs, tmp_path_factory):
    from sketchcolor.serve.app import ServeConfig, start

    run_dir = tmp_path_factory.mktemp("login-limit") / RUN_NAME
    shutil.copytree(served_runs["hints"], run_dir)
    port = free_port()
    config = ServeConfig(runs=[run_dir], port=port, device="cpu", auth=f"{ALICE[0]}:{ALICE[1]}",
                         max_pixels=SERVED_MAX_PIXELS, login_failures=PER_ADDRESS,
                         login_user_failures=PER_USER, login_window=WINDOW)  # fmt: skip
    app = start(config, block=False)
    yield f"http://127.0.0.1:{port}"
    app.close()


def login(url: str, user: str, password: str, source: str, *, multipart: bool = False):
    """POST /login from the loopback address `source` (a form as the page sends it when
    `multipart`); the response."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        if multipart:  # the login page sends FormData
            fields = {"username": (None, user), "password": (None, password)}
            return client.post(f"{url}/login", files=fields)
        return client.post(f"{url}/login", data={"username": user, "password": password})


def test_one_address_guessing_is_refused_while_others_log_in(server_url):
    started = time.monotonic()
    attacker = "127.0.0.2"
    answers = [login(server_url, ALICE[0], f"guess-{n}", attacker).status_code
               for n in range(PER_ADDRESS)]  # fmt: skip
    assert answers == [400] * PER_ADDRESS
    refused = login(server_url, ALICE[0], "guess-x", attacker, multipart=True)
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert detail.startswith(f"{PER_ADDRESS} failed logins from your address within {WINDOW} s")
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= WINDOW and f"try again in {wait} s" in detail
    # Refused without a look at the password: the right one from there is refused too.
    assert login(server_url, *ALICE, attacker).status_code == 429

    # Meanwhile alice logs in from elsewhere, with gradio_client and with raw HTTP, and works.
    client = Client(f"{server_url}/", auth=ALICE, verbose=False, httpx_kwargs={"timeout": 120})
    assert "/colorize" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert login(server_url, *ALICE, "127.0.0.3").status_code == 200
    assert time.monotonic() - started < 90


def test_a_user_name_guessed_from_many_addresses_is_refused(server_url):
    started = time.monotonic()
    # One guess from each of PER_USER addresses: none reaches its own bound.
    addresses = [f"127.0.1.{n}" for n in range(1, PER_USER + 1)]
    assert len(addresses) == PER_USER > PER_ADDRESS
    for address in addresses:
        assert login(server_url, "bob", "guess", address, multipart=True).status_code == 400
    refused = login(server_url, "bob", "guess", "127.0.1.200")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        f"{PER_USER} failed logins for this user name within {WINDOW} s"
    )
    assert login(server_url, *ALICE, "127.0.1.201").status_code == 200  # other names go on
    assert time.monotonic() - started < 60


def test_gradio_client_guessing_is_refused_then_told_when_to_retry(server_url):
    started = time.monotonic()
    for _ in range(PER_ADDRESS + 1):  # the last of these is refused without a check
        with pytest.raises(ValueError, match="Could not login"):
            Client(f"{server_url}/", auth=(ALICE[0], "wrong"), verbose=False,
                   httpx_kwargs={"timeout": 120})  # fmt: skip
    answer = httpx.post(f"{server_url}/login", data={"username": "carol", "password": "x"},
                        timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 429 and "try again in" in answer.json()["detail"]
    assert time.monotonic() - started < 60
