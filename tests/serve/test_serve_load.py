"""benchmarks/bench_serve_load.py, small: `sketchcolor serve --auth-file` in its own process,
4 logged-in clients x 6 requests mixing good sketches, oversized uploads, non-images and wrong
passwords. Every request is answered as its kind must be (the right pixels, or a refusal with
its message), none is lost, and the password never reaches the server's output. The speed and
the memory are the benchmark's, not asserted here.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
pytest.importorskip("gradio_client", reason="needs the test extra")
from benchmarks import bench_serve_load  # noqa: E402

CLIENTS, PER_CLIENT = 4, 6


@pytest.fixture(scope="module")
def load(served_runs, tmp_path_factory):
    runs = [served_runs["hints"], served_runs["palette"]]
    return bench_serve_load.serve_and_load(runs, tmp_path_factory.mktemp("load"), clients=CLIENTS,
                                           per_client=PER_CLIENT, warmup=0)  # fmt: skip


def test_every_request_is_answered_as_its_kind_must_be(load):
    outcomes = load["outcomes"]
    assert len(outcomes) == CLIENTS * PER_CLIENT  # none lost
    failed = [outcome for outcome in outcomes if not outcome.ok]
    assert not failed, failed
    # 6 requests from each of 4 clients walk the 6-kind mix from 4 starting points.
    kinds = Counter(outcome.kind for outcome in outcomes)
    assert kinds == {"good": 12, "oversized": 4, "non_image": 4, "wrong_password": 4}
    assert load["after_load"].ok, load["after_load"]  # and it still serves


def test_good_requests_cover_both_runs_and_every_sketch_size(load):
    details = [outcome.detail for outcome in load["outcomes"] if outcome.kind == "good"]
    assert all(detail.endswith(": 0 pixels differ") for detail in details), details
    for name in ("sketch-0.png on hints", "sketch-1.png on palette", "sketch-2.png on hints"):
        assert any(detail.startswith(name) for detail in details), (name, details)


def test_refusals_carry_their_messages(load):
    by_kind = {o.kind: o.detail for o in load["outcomes"] if o.kind != "good"}
    limit = 256 * 1024
    assert by_kind["oversized"] == f"413: File size exceeded maximum allowed size of {limit} bytes."
    assert "sketch: cannot read sketch" in by_kind["non_image"]
    assert by_kind["wrong_password"] == (
        'login 400: {"detail":"Incorrect credentials."}; queue 401'
    )


def test_the_password_is_not_in_the_servers_output(load):
    assert "Running on local URL" in load["log"]  # the output was captured
    assert load["password"] not in load["log"]
