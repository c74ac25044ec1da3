"""A bound on password guessing at `serve --auth`'s login: failures per address and per user name.

Gradio's /login takes any number of attempts. `LoginRateLimit` sits in front of it (an ASGI
middleware given to the app at launch): a client address with `failures` failed logins in the
last `window` seconds, or a user name with `user_failures` of them from all addresses
together, is refused (HTTP 429, a Retry-After header and a message saying when to try again)
without its password being checked, until the oldest of those failures is `window` seconds
old. An attempt counts as a failure from the moment it arrives until it succeeds, so many
attempts sent at once cannot overtake the count. A correct login from another address goes on
working while one address guesses, because the per-name bound is set above the per-address
one: one address alone never reaches it. The address is the connection's (uvicorn replaces it
with X-Forwarded-For only for a proxy on the loopback address, its default).

Usage: Middleware(LoginRateLimit, limits=LoginLimits(failures=5, user_failures=20, window=60))
"""

from __future__ import annotations

import collections
import json
import math
import time
from dataclasses import dataclass

MAX_LOGIN_BYTES = 64 * 1024  # a login form is a user name and a password
MAX_KEYS = 10_000  # addresses or names remembered per log; the oldest go first


@dataclass(frozen=True)
class LoginLimits:
    failures: int = 5
    """Failed logins one client address may make within `window` (0: no bound)."""
    user_failures: int = 20
    """Failed logins for one user name, all addresses together, within `window` (0: no bound)."""
    window: float = 60.0
    """Seconds a failure counts for."""


class FailureLog:
    """Times of recent failures by key (an address or a user name), bounded in keys."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.times: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again (0: now)."""
        times = self._current(key, now)
        if self.limit <= 0 or times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window - now

    def add(self, key: str, now: float) -> None:
        times = self._current(key, now) or collections.deque()
        times.append(now)
        self.times[key] = times
        self.times.move_to_end(key)
        while len(self.times) > MAX_KEYS:
            self.times.popitem(last=False)

    def forgive(self, key: str, at: float) -> None:
        """Take back the failure counted at `at` (the attempt succeeded)."""
        times = self.times.get(key)
        if times is not None and at in times:
            times.remove(at)

    def _current(self, key: str, now: float) -> collections.deque | None:
        times = self.times.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


class LoginRateLimit:
    """The ASGI middleware of the module docstring; everything but POST .../login passes."""

    def __init__(self, app, limits: LoginLimits) -> None:
        self.app, self.limits = app, limits
        self.by_address = FailureLog(limits.failures, limits.window)
        self.by_user = FailureLog(limits.user_failures, limits.window)

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "").rstrip("/")
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.endswith("/login"):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            await respond(send, 413, "a login form is a user name and a password")
            return
        address = (scope.get("client") or ("unknown",))[0]
        user = await form_user(scope, body)
        now = time.monotonic()
        refusal = self.refusal(address, user, now)
        if refusal is not None:
            await respond(send, 429, refusal[0], retry_after=refusal[1])
            return
        self.by_address.add(address, now)
        self.by_user.add(user, now)
        statuses: list[int] = []

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        try:
            await self.app(scope, replay(body, receive), watch)
        finally:
            if statuses and statuses[0] < 400:  # logged in: not a failure after all
                self.by_address.forgive(address, now)
                self.by_user.forgive(user, now)

    def refusal(self, address: str, user: str, now: float) -> tuple[str, int] | None:
        """(message, seconds to wait) when `address` or `user` is over its bound, else None."""
        by_address, by_user = self.by_address.wait(address, now), self.by_user.wait(user, now)
        if by_address <= 0 and by_user <= 0:
            return None
        seconds = max(1, math.ceil(max(by_address, by_user)))
        if by_address >= by_user:
            what = f"{self.limits.failures} failed logins from your address"
        else:
            what = f"{self.limits.user_failures} failed logins for this user name"
        window = f"{self.limits.window:g}"
        return f"{what} within {window} s: try again in {seconds} s", seconds


async def read_body(receive) -> bytes | None:
    """The request body, or None when it is longer than MAX_LOGIN_BYTES."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_LOGIN_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive):
    """A `receive` that hands `body` over once, then waits on the real one (a disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def form_user(scope, body: bytes) -> str:
    """The form's user name as Gradio's login reads it (stripped; "" when there is none)."""
    from starlette.requests import Request

    request = Request(scope, receive=replay(body, _never))
    try:
        form = await request.form()
    except Exception:  # not a form: Gradio's login refuses it itself
        return ""
    try:
        user = form.get("username")
        return user.strip() if isinstance(user, str) else ""
    finally:
        await form.close()


async def _never():
    return {"type": "http.disconnect"}


async def respond(send, status: int, message: str, retry_after: int | None = None) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps({"detail": message}).encode()})
