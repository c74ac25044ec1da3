"""File inputs given as URLs: off unless `serve --url-inputs`, and then as bounded as uploads.

Gradio lets an API call name a file by an http(s) URL instead of uploading it; the server then
fetches it itself, with no size limit (`--max-file-size` bounds uploads only) and, for a host
that resolves to no public address, after asking a public DNS service. sketchcolor turns that
off: such a request is refused with one line before anything is fetched. With `--url-inputs`
the server fetches the URL through Gradio's own address check (no private, loopback or
link-local addresses, each redirect checked again), streams it to its cache and stops at
`--max-file-size` with the same words an upload over the limit gets.

Each file component's `async_move_resource_to_block_cache` (the one place Gradio turns an input
URL into a file) is wrapped on the instance. This module imports gradio only when it runs.

Usage: guard_url_inputs(app, enabled=config.url_inputs, max_bytes=parse_file_size("20MB"))
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlparse

REFUSED = (
    "URL inputs are off on this server: upload the file itself (a server started with "
    "--url-inputs fetches URLs, up to its --max-file-size)"
)
MAX_REDIRECTS = 5
CHUNK_BYTES = 2**16
TIMEOUT_SECONDS = 30


def guard_url_inputs(app, *, enabled: bool, max_bytes: int) -> None:
    """Wrap every block of `app` (a gr.Blocks) that fetches input URLs (see the docstring)."""
    for block in app.blocks.values():
        original = getattr(block, "async_move_resource_to_block_cache", None)
        if original is not None:
            guarded = functools.partial(_move_resource, block, original, enabled, max_bytes)
            block.async_move_resource_to_block_cache = guarded


async def _move_resource(block, original, enabled: bool, max_bytes: int, url_or_path):
    from gradio_client.utils import is_http_url_like

    if url_or_path is None or not is_http_url_like(str(url_or_path)):
        return await original(url_or_path)
    import gradio as gr

    if not enabled:
        raise gr.Error(REFUSED, print_exception=False)
    path = await bounded_download(str(url_or_path), Path(block.GRADIO_CACHE), max_bytes)
    block.temp_files.add(path)
    return path


def too_large(max_bytes: int) -> str:
    """The refusal of a URL's file over the limit, in the words of an upload's."""
    return f"the file at the URL exceeds the maximum file size of {max_bytes} bytes"


async def verified_transport(url: str):
    """The transport Gradio's SSRF check gives for `url`'s host: pinned to a public address it
    resolved (a ValueError for a host with none), or None for Gradio's allow-listed hosts."""
    import httpx
    import safehttpx
    from gradio.processing_utils import PUBLIC_HOSTNAME_WHITELIST

    host = httpx.URL(url).host
    if safehttpx.matches_domain_whitelist(host, PUBLIC_HOSTNAME_WHITELIST):
        return None
    return safehttpx.AsyncSecureTransport(await safehttpx.async_validate_url(host))


async def bounded_download(url: str, cache_dir: Path, max_bytes: int) -> str:
    """`url` into a new file under `cache_dir`, refused (gr.Error) past `max_bytes`, on a
    status other than 200 or on a host that fails the address check."""
    import gradio as gr
    import httpx

    for _ in range(MAX_REDIRECTS + 1):
        try:
            transport = await verified_transport(url)
            client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT_SECONDS)
            async with client, client.stream("GET", url, follow_redirects=False) as response:
                if response.has_redirect_location:
                    url = urljoin(str(response.url), response.headers["Location"])
                    continue
                if response.status_code != 200:
                    raise gr.Error(f"the URL answered HTTP {response.status_code}",
                                   print_exception=False)  # fmt: skip
                return await _write_bounded(response, url, cache_dir, max_bytes)
        except (ValueError, httpx.HTTPError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise gr.Error(f"cannot fetch the URL ({message})", print_exception=False) from None
    raise gr.Error(f"the URL redirects more than {MAX_REDIRECTS} times", print_exception=False)


async def _write_bounded(response, url: str, cache_dir: Path, max_bytes: int) -> str:
    import gradio as gr

    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise gr.Error(too_large(max_bytes), print_exception=False)
    name = Path(urlparse(url).path).name or "file"
    folder = Path(tempfile.mkdtemp(dir=cache_dir, prefix="url-"))
    target, written = folder / name, 0
    try:
        with open(target, "wb") as file:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:  # a server that sent no length, or a wrong one
                    raise gr.Error(too_large(max_bytes), print_exception=False)
                file.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        os.rmdir(folder)
        raise
    return str(target)
