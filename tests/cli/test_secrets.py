"""No secret in any message (issue 36): a recognisable password is planted in every way of
giving one to `sketchcolor serve` (--auth, --auth-file, $SKETCHCOLOR_SERVE_AUTH, a --config
file), the options around it are mistyped, and every output is searched for it: the one-line
errors, anything else on stdout and stderr, log records, the help, and a real server's output
while it refuses and takes logins."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import warnings

import httpx
import pytest

from sketchcolor.cli import main
from sketchcolor.serve.access import AUTH_VARIABLE
from tests.support.processes import ENVIRONMENT, free_port

PASSWORD = "Zq7-planted-SECRET-4417"
PARTS = ("planted-SECRET", "SECRET-4417")  # a quoted fragment counts as a leak too


def leaked(text: str) -> bool:
    return PASSWORD in text or any(part in text for part in PARTS)


def mistyped_command_lines(tmp_path) -> dict[str, tuple[list[str], dict]]:
    """name -> (argv, environment variables), each wrong somewhere around the password."""
    run = str(tmp_path / "run")
    accounts = tmp_path / "accounts.txt"
    accounts.write_text(f"alice:{PASSWORD}\n")
    broken_file = tmp_path / "broken.txt"
    broken_file.write_text(f"# studio\nalice {PASSWORD}\n")  # no colon on line 2
    configs = {
        "good": f'auth: "alice:{PASSWORD}"\n',
        "unterminated": f'auth: "alice:{PASSWORD}\n',
        "wrong-key": f'auht: "alice:{PASSWORD}"\n',
        "wrong-type": f'port: "alice:{PASSWORD}"\n',
        "list": f'auth: [alice, "{PASSWORD}"]\n',
    }
    for name, text in configs.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    secret = f"alice:{PASSWORD}"
    env = {AUTH_VARIABLE: secret}
    return {
        "misspelt --auth": (["serve", run, "--auht", secret], {}),
        "misspelt --auth=": (["serve", run, f"--auht={secret}"], {}),
        "short --au and --prot": (["serve", run, "--au", secret, "--prot", "3"], {}),
        "unknown option after": (["serve", run, "--auth", secret, "--bogus", "x"], {}),
        "value like an option": (["serve", run, "--auth", f"-{PASSWORD}"], {}),
        "no colon": (["serve", run, "--auth", PASSWORD], {}),
        "bad port": (["serve", run, "--auth", secret, "--port", "notanumber"], {}),
        "no run": (["serve", "--auth", secret], {}),
        "missing run folder": (["serve", run, "--auth", secret], {}),
        "--auth-file with a bad line": (["serve", run, "--auth-file", str(broken_file)], {}),
        "misspelt --auth-file": (["serve", run, "--auth-fil", str(accounts)], {}),
        "--auth-file and --no-auth": (["serve", run, "--auth-file", str(accounts), "--no-auth"], {}),
        "variable without colon": (["serve", run], {AUTH_VARIABLE: PASSWORD}),
        "variable and a typo": (["serve", run, "--prot", "3", "--hots", "0.0.0.0"], env),
        "variable and --auth twice": (["serve", run, "--auth", secret], env),
        "variable and no host": (["serve", run, "--host"], env),
        **{f"config {name}": (["serve", run, "--config", str(tmp_path / f"{name}.yaml")], {})
           for name in configs},
        "config and a typo": (["serve", run, "--config", str(tmp_path / "good.yaml"),
                               "--prot", "3"], {}),
    }  # fmt: skip


def test_no_error_repeats_a_password_given_any_way(tmp_path, capsys, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    cases = mistyped_command_lines(tmp_path)
    assert len(cases) > 20
    for name, (argv, environment) in cases.items():
        monkeypatch.delenv(AUTH_VARIABLE, raising=False)
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = main(argv)
        assert not any(leaked(str(warning.message)) for warning in caught), name
        out, err = capsys.readouterr()
        assert status == 2, (name, out, err)
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1, (name, err)  # one line says what is wrong ...
        assert not leaked(out + err), (name, out + err)  # ... and never the password
    assert not any(leaked(record.getMessage()) for record in caplog.records)


def test_help_with_a_config_file_hides_its_password(tmp_path, capsys):
    (tmp_path / "serve.yaml").write_text(f'auth: "alice:{PASSWORD}"\nport: 7999\n')
    with pytest.raises(SystemExit) as stop:
        main(["serve", str(tmp_path / "run"), "--config", str(tmp_path / "serve.yaml"), "--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert "--auth" in shown and "7999" in shown  # the help and the file's other defaults
    assert not leaked(shown)


@pytest.mark.slow
def test_a_serving_process_never_prints_a_password(served_runs, tmp_path):
    """A real `sketchcolor serve` with the password in the file and the variable: its whole
    output, through start, refused and accepted logins and stop, holds neither."""
    pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
    accounts = tmp_path / "accounts.txt"
    accounts.write_text(f"alice:{PASSWORD}\n")
    port = free_port()
    environment = {**ENVIRONMENT, AUTH_VARIABLE: f"bob:{PASSWORD}-bob"}
    command = [sys.executable, "-m", "sketchcolor", "serve", str(served_runs["hints"]),
               "--port", str(port), "--device", "cpu", "--auth-file", str(accounts)]  # fmt: skip
    server = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        tries = [("alice", PASSWORD[:-1]), (PASSWORD, PASSWORD), ("alice", PASSWORD),
                 ("bob", f"{PASSWORD}-bob")]  # fmt: skip
        answers = [httpx.post(f"{url}/login", data={"username": user, "password": password},
                              timeout=60).status_code for user, password in tries]  # fmt: skip
        assert answers == [400, 400, 200, 200]
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert output.strip(), "the server printed nothing: a search of nothing would pass"
    assert not leaked(output), output[-3000:]
