"""Who may use `sketchcolor serve`: accounts from --auth, --auth-file and the environment, the
loopback rule, --no-auth, the upload limit; refused set-ups are one line without the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from sketchcolor.cli import main
from sketchcolor.config import ServeConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.serve.access import (
    AUTH_VARIABLE,
    is_loopback,
    login_accounts,
    parse_file_size,
    read_auth_file,
)

PASSWORD = "pa55:word with spaces"


def config(**options) -> ServeConfig:
    return ServeConfig(runs=[Path("run")], **options)


def test_an_auth_file_skips_blank_lines_and_comments_and_keeps_colons(tmp_path):
    path = tmp_path / "accounts.txt"
    path.write_text(f"# who may log in\n\nalice:{PASSWORD}\n  # indented comment\nbob:x\r\n\n")
    assert read_auth_file(path) == [("alice", PASSWORD), ("bob", "x")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("alice", "line 3: expected user:password, found no colon"),
        (":secret-one", "line 3: the user name before the colon is empty"),
        ("alice:", "line 3: the password after the colon is empty"),
    ],
)
def test_a_malformed_auth_line_names_the_file_and_line_not_the_password(tmp_path, line, message):
    path = tmp_path / "accounts.txt"
    path.write_text(f"# accounts\nbob:{PASSWORD}\n{line}\n")
    with pytest.raises(SketchcolorError) as caught:
        read_auth_file(path)
    assert str(caught.value) == f"{path} {message}"
    assert "secret-one" not in str(caught.value) and PASSWORD not in str(caught.value)


def test_an_empty_or_missing_auth_file_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("# nobody yet\n\n")
    with pytest.raises(SketchcolorError, match="empty.txt: the auth file lists no user:password"):
        read_auth_file(tmp_path / "empty.txt")
    with pytest.raises(SketchcolorError, match="none.txt: cannot read the auth file"):
        read_auth_file(tmp_path / "none.txt")


def test_accounts_from_the_flag_the_file_and_the_environment_add_up(tmp_path):
    path = tmp_path / "accounts.txt"
    path.write_text("bob:b\ncarol:c\n")
    accounts = login_accounts(config(auth="alice:a", auth_file=path),
                              {AUTH_VARIABLE: f"dave:{PASSWORD}"})  # fmt: skip
    assert accounts == [("alice", "a"), ("bob", "b"), ("carol", "c"), ("dave", PASSWORD)]
    assert login_accounts(config(), {AUTH_VARIABLE: "erin:e"}) == [("erin", "e")]
    assert login_accounts(config(), {}) is None  # 127.0.0.1: no login needed
    with pytest.raises(SketchcolorError) as caught:
        login_accounts(config(auth="bob:other", auth_file=path), {})
    assert str(caught.value) == f"user 'bob' is listed twice: --auth and {path} line 1"
    with pytest.raises(SketchcolorError) as caught:
        login_accounts(config(), {AUTH_VARIABLE: PASSWORD.replace(":", "")})
    assert str(caught.value) == f"${AUTH_VARIABLE}: expected user:password, found no colon"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
     ("myhost.example", False), ("", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_this_machine(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_beyond_loopback_a_login_or_no_auth_is_needed(host, tmp_path):
    with pytest.raises(SketchcolorError) as caught:
        login_accounts(config(host=host), {})
    assert str(caught.value) == (
        f"--host {host} lets other machines in: give --auth-file FILE (user:password lines) or "
        f"${AUTH_VARIABLE}, or say --no-auth to serve without a login"
    )
    assert login_accounts(config(host=host, no_auth=True), {}) is None
    assert login_accounts(config(host=host, auth="alice:a"), {}) == [("alice", "a")]


def test_no_auth_beside_an_account_is_refused(tmp_path):
    with pytest.raises(SketchcolorError, match="^--no-auth and --auth together: choose one$"):
        login_accounts(config(no_auth=True, auth=f"alice:{PASSWORD}"), {})
    with pytest.raises(SketchcolorError, match=rf"^--no-auth and \${AUTH_VARIABLE} together"):
        login_accounts(config(no_auth=True), {AUTH_VARIABLE: "alice:a"})
    path = tmp_path / "accounts.txt"
    with pytest.raises(SketchcolorError, match="--no-auth and --auth and --auth-file together"):
        login_accounts(config(no_auth=True, auth="a:b", auth_file=path), {})


@pytest.mark.parametrize(
    ("text", "size"),
    [("20MB", 20 * 2**20), ("20 mb", 20 * 2**20), ("512KB", 512 * 1024), ("1.5GB", 3 * 2**29),
     ("1000", 1000), ("64B", 64), (4096, 4096)],
)  # fmt: skip
def test_file_sizes_are_read_in_gradios_units(text, size):
    assert parse_file_size(text) == size


@pytest.mark.parametrize("text", ["20 megabytes", "MB", "-1MB", "1.2.3KB", "0KB", "0.1B"])
def test_a_bad_file_size_is_refused(text):
    with pytest.raises(SketchcolorError, match="--max-file-size"):
        parse_file_size(text)


def test_the_password_is_not_in_the_configs_repr():
    assert PASSWORD not in repr(config(auth=f"alice:{PASSWORD}"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 lets other machines in: give --auth-file FILE"),
        (["--auth", f"alice:{PASSWORD}", "--no-auth"], "--no-auth and --auth together"),
        (["--auth-file", "accounts.txt"], "accounts.txt line 2: expected user:password, found no"),
        (["--max-file-size", "huge"], "--max-file-size 'huge': expected a size such as 20MB"),
    ],
)
def test_refused_set_ups_are_one_line_before_any_run_loads(tmp_path, capsys, monkeypatch, extra,
                                                           message):  # fmt: skip
    pytest.importorskip("gradio", reason="needs the ui extra")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(AUTH_VARIABLE, raising=False)
    Path("accounts.txt").write_text(f"alice:{PASSWORD}\n{PASSWORD.replace(':', '')}\n")
    # The run folder does not exist: these refusals come before any run is read.
    assert main(["serve", str(tmp_path / "missing"), "--port", "1", *extra]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert "no such run folder" not in error
    assert PASSWORD not in captured.err + captured.out
    assert PASSWORD.replace(":", "") not in captured.err + captured.out
