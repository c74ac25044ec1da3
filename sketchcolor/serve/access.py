"""Who may use `sketchcolor serve`: login accounts, the loopback rule and the upload limit.

Accounts come from `--auth USER:PASSWORD`, `--auth-file FILE` (one `user:password` a line,
blank lines and `#` comments allowed) and `$SKETCHCOLOR_SERVE_AUTH` (one `user:password`);
the file and the variable keep passwords out of the process list. Gradio's login page and its
API routes check them (`launch(auth=...)`). A server listening beyond the loopback address
needs an account, or `--no-auth` saying in words that anyone who reaches it may use it.
Failed logins are bounded per address and per user name (`login_limits`, serve/logins.py).
Messages name where a bad account came from (the file and its line), never its password.
This module imports neither torch nor gradio.

Usage: accounts = login_accounts(config); max_bytes = parse_file_size("20MB")
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from sketchcolor.errors import SketchcolorError
from sketchcolor.serve.logins import LoginLimits

AUTH_VARIABLE = "SKETCHCOLOR_SERVE_AUTH"
FILE_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
"""Gradio's units: powers of 1024."""
_FILE_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_account(text: str, where: str) -> tuple[str, str]:
    """`user:password` -> (user, password); the password may hold colons, the user may not.
    `where` ("--auth", "FILE line 3") names the source in errors, which never show the text."""
    if not isinstance(text, str):  # a config file's `auth: 5` or a list
        raise SketchcolorError(f"{where}: expected user:password text")
    user, colon, password = text.strip().partition(":")
    if not colon:
        raise SketchcolorError(f"{where}: expected user:password, found no colon")
    if not user.strip():
        raise SketchcolorError(f"{where}: the user name before the colon is empty")
    if not password:
        raise SketchcolorError(f"{where}: the password after the colon is empty")
    return user.strip(), password


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    """The accounts of an auth file, one `user:password` a line (blank and `#` lines skipped)."""
    return [account for _, account in _auth_file_accounts(path)]


def _auth_file_accounts(path: Path) -> list[tuple[str, tuple[str, str]]]:
    """(where, account) for each account line of an auth file; `where` is "FILE line N"."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise SketchcolorError(f"{path}: cannot read the auth file ({reason})") from None
    accounts = []
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            where = f"{path} line {number}"
            accounts.append((where, parse_account(line, where)))
    if not accounts:
        raise SketchcolorError(f"{path}: the auth file lists no user:password line")
    return accounts


def login_accounts(config, environ=os.environ) -> list[tuple[str, str]] | None:
    """The accounts Gradio's login takes (--auth, --auth-file and $SKETCHCOLOR_SERVE_AUTH
    together), or None for no login; refuses a non-loopback --host without an account unless
    --no-auth, and --no-auth beside an account. `config` is a ServeConfig."""
    variable = f"${AUTH_VARIABLE}"
    given = {"--auth": config.auth, "--auth-file": config.auth_file,
             variable: environ.get(AUTH_VARIABLE) or None}  # fmt: skip
    named = [name for name, value in given.items() if value is not None]
    if config.no_auth and named:
        raise SketchcolorError(f"--no-auth and {' and '.join(named)} together: choose one")
    sources = []  # (where, (user, password))
    if config.auth is not None:
        sources.append(("--auth", parse_account(config.auth, "--auth")))
    if config.auth_file is not None:
        sources += _auth_file_accounts(config.auth_file)
    if given[variable] is not None:
        sources.append((variable, parse_account(given[variable], variable)))
    seen: dict[str, str] = {}
    for where, (user, _) in sources:
        if user in seen:
            raise SketchcolorError(f"user {user!r} is listed twice: {seen[user]} and {where}")
        seen[user] = where
    if not sources and not config.no_auth and not is_loopback(config.host):
        raise SketchcolorError(
            f"--host {config.host} lets other machines in: give --auth-file FILE "
            f"(user:password lines) or ${AUTH_VARIABLE}, or say --no-auth to serve without a login"
        )
    return [account for _, account in sources] or None


def login_limits(config) -> LoginLimits:
    """The bound on failed logins a ServeConfig asks for (serve/logins.py), checked."""
    if config.login_failures < 0 or config.login_user_failures < 0:
        raise SketchcolorError(
            "--login-failures and --login-user-failures must be 0 (no bound) or more"
        )
    if not config.login_window > 0:
        raise SketchcolorError(
            f"--login-window must be more than 0 seconds, got {config.login_window}"
        )
    return LoginLimits(failures=config.login_failures, user_failures=config.login_user_failures,
                       window=float(config.login_window))  # fmt: skip


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only: localhost, 127.0.0.0/8 or ::1 (names other than
    localhost count as reaching further: they may resolve anywhere)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_file_size(text: str | int) -> int:
    """A size ("20MB", "512 KB", "1.5GB" or a byte count) in bytes; KB = 1024 B, as in Gradio."""
    match = _FILE_SIZE.match(str(text))
    unit = match.group(2).upper() if match else None
    if unit not in FILE_SIZE_UNITS:
        raise SketchcolorError(
            f"--max-file-size {text!r}: expected a size such as 20MB, 512KB, 1GB or a byte count"
        )
    size = int(float(match.group(1)) * FILE_SIZE_UNITS[unit])
    if size < 1:
        raise SketchcolorError(f"--max-file-size {text!r}: must be at least 1 byte")
    return size
