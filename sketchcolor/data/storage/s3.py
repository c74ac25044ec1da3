"""Shards in object storage (s3://BUCKET/PREFIX): the one module that knows about URLs.

Reading: `local_folder(location)` gives a local shard folder for any `--data`: a path as it
is; for s3:// a cache folder (SHARD_CACHE/BUCKET/PREFIX) holding a fresh manifest.json, every
`.idx` (small; the loaders list samples from them) and remote.json naming the URL. The tars
are staged on demand: `RemoteShards.ensure(tar)` downloads one under a per-tar file lock (the
ranks of a node share the cache and never fetch a tar twice), checks it against the manifest
(size, samples, sha256, its .idx) before it takes the tar's name, fetches it again once when
it is damaged or the transfer fails, then stops with one line naming the object. A verified
tar is kept and reused by the next epoch, the next run and a resume. `prefetch(tars)` stages
them in the order the loader will open them, in background threads, so it does not wait.
With a bound (--shard-cache-max-gb, $SKETCHCOLOR_SHARD_CACHE_MAX_GB) each fetch is followed
by evicting the least recently used verified tars no live process uses (data/storage/cache.py).

Writing: `upload_folder(local, url)` puts every tar and .idx, then manifest.json last, so a
prefix whose upload was cut short never looks complete.

Credentials and endpoint come the standard way through boto3 (AWS_* variables,
AWS_ENDPOINT_URL, AWS_PROFILE, ~/.aws); nothing here writes them anywhere.

Usage: folder = local_folder("s3://bucket/shards"); read_split(folder, "train")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sketchcolor.data.shards.check import expected_record, manifest_shards, shard_problem
from sketchcolor.data.shards.manifest_format import (
    MANIFEST_FILE,
    manifest_sha256,
    parse_manifest,
    read_manifest_file,
)
from sketchcolor.data.storage.cache import GB, file_lock, keep_under, lease, marker_path, touch
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import atomic_output, write_text_atomically
from sketchcolor.util.locations import data_location, is_remote, split_url

REMOTE_FILE = "remote.json"  # in a cache folder: which URL it mirrors
DOWNLOADS_LOG = "downloads.log"  # in a cache folder: one line per tar fetched (name, pid)
CACHE_VARIABLE = "SKETCHCOLOR_SHARD_CACHE"
MAX_GB_VARIABLE = "SKETCHCOLOR_SHARD_CACHE_MAX_GB"
PREFETCH_THREADS = 4  # tars downloaded at once ahead of the loader
ATTEMPTS = 2  # a tar is fetched at most twice (botocore retries each request underneath)
# Objects up to this size (s3transfer's own multipart threshold) come in one GET, streamed to
# the file and hashed on the way, so a tar's sha256 costs no second read; larger ones come in
# parallel ranged GETs of that size (s3transfer), then are hashed.
SINGLE_GET_BYTES = 8 * 2**20
RANGED_GETS = 8  # parallel ranged GETs per large object
CHUNK_BYTES = 2**20

_shard_cache: Path | None = None  # set by --shard-cache (use_shard_cache)
_shard_cache_max_gb: float | None = None  # set by --shard-cache-max-gb
_staged: dict[tuple[str, str], Path] = {}  # (url, cache root) -> folder, once per process
_offline: dict[str, str] = {}  # cache folder -> why its store was unreachable when staged
_clients: dict[int, object] = {}  # one boto3 client per process (fork-safe)
_client_lock = threading.Lock()
# botocore's service-model loader, kept across a fork: a loader worker's own client then
# takes ~50 ms to make instead of ~300 ms (the models are parsed once per process tree).
_data_loader = None


def _after_fork_in_child() -> None:
    """A forked loader worker starts with no client and a free lock (a thread of the parent
    may have held it at the fork; that thread does not exist here)."""
    global _client_lock
    _client_lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def object_key(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def use_shard_cache(folder: str | Path | None, max_gb: float | None = None) -> None:
    """Stage s3:// shards under `folder` in this process (None: the default, see below), and
    keep its verified tars under `max_gb` (None: $SKETCHCOLOR_SHARD_CACHE_MAX_GB, else no
    bound)."""
    global _shard_cache, _shard_cache_max_gb
    if max_gb is not None and max_gb < 0:
        raise SketchcolorError(f"--shard-cache-max-gb must be 0 or more, got {max_gb}")
    _shard_cache = Path(folder) if folder is not None else None
    _shard_cache_max_gb = max_gb


def shard_cache_root() -> Path:
    """--shard-cache, else $SKETCHCOLOR_SHARD_CACHE, else TMPDIR/sketchcolor-shards: the node's
    temp space, which on cloud and SLURM nodes is the local disk (point it at NVMe)."""
    if _shard_cache is not None:
        return _shard_cache
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "sketchcolor-shards"


def shard_cache_max_bytes() -> int | None:
    """--shard-cache-max-gb, else $SKETCHCOLOR_SHARD_CACHE_MAX_GB, in bytes; None: no bound."""
    max_gb = _shard_cache_max_gb
    if max_gb is None and os.environ.get(MAX_GB_VARIABLE):
        try:
            max_gb = float(os.environ[MAX_GB_VARIABLE])
        except ValueError:
            raise SketchcolorError(
                f"${MAX_GB_VARIABLE}={os.environ[MAX_GB_VARIABLE]!r}: not a number of GB"
            ) from None
        if max_gb < 0:
            raise SketchcolorError(f"${MAX_GB_VARIABLE} must be 0 or more, got {max_gb}")
    return None if max_gb is None else int(max_gb * GB)


def s3_client():
    """The process's boto3 S3 client: the standard credential chain and AWS_ENDPOINT_URL,
    botocore's standard retries (AWS_MAX_ATTEMPTS overrides their count)."""
    global _data_loader
    with _client_lock:
        client = _clients.get(os.getpid())
        if client is None:
            try:
                import boto3
                import botocore.session
                from botocore.config import Config
            except ImportError:
                raise SketchcolorError(
                    "s3:// data needs boto3: pip install 'sketchcolor[s3]'"
                ) from None
            session = botocore.session.get_session()  # credentials resolved in this process
            if _data_loader is None:
                _data_loader = session.get_component("data_loader")
            else:
                session.register_component("data_loader", _data_loader)
            config = Config(retries={"mode": "standard"}, connect_timeout=10, read_timeout=60,
                            max_pool_connections=PREFETCH_THREADS * RANGED_GETS + 8)  # fmt: skip
            client = boto3.session.Session(botocore_session=session).client("s3", config=config)
            _clients[os.getpid()] = client
        return client


def describe_error(error: Exception) -> str:
    """A transfer error in a few words (botocore's messages name the endpoint, not secrets)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0][:200]


def _transfer_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


def download(bucket: str, key: str, path: Path, size: int | None = None) -> tuple[str | None, str]:
    """One object to `path`; returns (its sha256 when it was hashed on the way, else None, and
    the ETag of the object version these bytes are). Objects of up to SINGLE_GET_BYTES, or of
    unknown `size`, come in one GET and are hashed on the way; larger ones in parallel ranged
    GETs, each asking for the ETag a HEAD saw first (a change in between fails the transfer)."""
    client = s3_client()
    if size is not None and size > SINGLE_GET_BYTES:
        from boto3.s3.transfer import TransferConfig

        etag = client.head_object(Bucket=bucket, Key=key)["ETag"]
        config = TransferConfig(multipart_threshold=SINGLE_GET_BYTES,
                                multipart_chunksize=SINGLE_GET_BYTES,
                                max_concurrency=RANGED_GETS)  # fmt: skip
        client.download_file(bucket, key, str(path), ExtraArgs={"IfMatch": etag}, Config=config)
        return None, etag
    response = client.get_object(Bucket=bucket, Key=key)
    body, digest = response["Body"], hashlib.sha256()
    with open(path, "wb") as file:
        for chunk in iter(lambda: body.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest(), response["ETag"]


# --- reading


def local_folder(location: str | Path, *, cache_only_if_unreachable: bool = True) -> Path:
    """A local shard folder for `location`: a path as is, an s3:// URL staged as the module
    docstring says (its manifest fetched once per process). When the store cannot be reached
    and the node cache holds a verified copy of the manifest, that copy is used (one line on
    stderr says so) unless `cache_only_if_unreachable` is False (`sketchcolor verify`, whose
    question is the store itself)."""
    if not is_remote(location):
        return Path(location)
    url = str(data_location(location))
    root = shard_cache_root()
    folder = _staged.get((url, str(root)))
    if folder is None:
        folder = stage_manifest(url, root, cache_only_if_unreachable=cache_only_if_unreachable)
        _staged[(url, str(root))] = folder
    return folder


def stage_manifest(url: str, root: Path, *, cache_only_if_unreachable: bool = True) -> Path:
    """Fetch URL/manifest.json and every .idx into ROOT/BUCKET/PREFIX; returns that folder
    (see `local_folder` for an unreachable store)."""
    bucket, prefix = split_url(url)
    folder = root / bucket / prefix
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SketchcolorError(
            f"{folder}: cannot create the shard cache ({error.strerror or error}); "
            "choose another with --shard-cache"
        ) from None
    manifest_url = f"{url}/{MANIFEST_FILE}"
    partial = folder / f".{MANIFEST_FILE}.{os.getpid()}.partial"
    try:
        download(bucket, object_key(prefix, MANIFEST_FILE), partial)
        os.replace(partial, folder / MANIFEST_FILE)
    except _transfer_errors() as error:
        partial.unlink(missing_ok=True)
        if cache_only_if_unreachable and unreachable(error) and cached_manifest_holds(folder, url):
            return go_on_from_cache(folder, url, describe_error(error))
        raise SketchcolorError(
            f"{manifest_url}: cannot read the manifest ({describe_error(error)}); is it a "
            "finished `sketchcolor shards` output, and are the credentials and endpoint right?"
        ) from None
    _offline.pop(str(folder), None)
    record = {"url": url, "manifest_sha256": manifest_sha256(folder)}
    write_text_atomically(folder / REMOTE_FILE, json.dumps(record) + "\n")
    RemoteShards(folder).fetch_indexes()
    return folder


def unreachable(error: Exception) -> bool:
    """The store did not answer (no connection, a timeout) or answered that it is down (5xx),
    as opposed to refusing the request (credentials, a missing object)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500
    return isinstance(error, (ConnectionError, HTTPClientError))


def cached_manifest_holds(folder: Path, url: str) -> bool:
    """The cache folder of `url` holds the manifest exactly as last fetched from the store
    (its sha256 recorded in remote.json then) and it reads as a finished manifest."""
    try:
        recorded = json.loads((folder / REMOTE_FILE).read_text())
        if recorded.get("url") != url or not recorded.get("manifest_sha256"):
            return False
        if manifest_sha256(folder) != recorded["manifest_sha256"]:
            return False
        read_manifest_file(folder)
    except (OSError, ValueError, SketchcolorError):
        return False
    return True


def go_on_from_cache(folder: Path, url: str, reason: str) -> Path:
    """Use the verified cache folder of an unreachable store: say so once per node (local
    rank 0); each tar is then taken only from the cache, verified (`require_cached`)."""
    _offline[str(folder)] = reason
    if os.environ.get("LOCAL_RANK", "0") == "0":
        print(
            f"sketchcolor: {url} is unreachable ({reason}); going on from the node cache "
            f"{folder}: its verified copy of the manifest and the verified tars in it",
            file=sys.stderr,
            flush=True,
        )
    return folder


def remote_shards(folder: str | Path) -> RemoteShards | None:
    """The stager of a cache folder made by `local_folder`; None for an ordinary folder."""
    return RemoteShards(Path(folder)) if (Path(folder) / REMOTE_FILE).is_file() else None


class RemoteShards:
    """Stages the tars of one cache folder from its bucket (picklable: loader workers call
    `ensure` themselves; the lock and the verified marker make that safe and cheap)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.url = json.loads((self.folder / REMOTE_FILE).read_text())["url"]
        bucket, prefix = split_url(self.url)
        self.root = self.folder.parents[len(Path(bucket, prefix).parts) - 1]  # ROOT/BUCKET/PREFIX
        self.max_bytes = shard_cache_max_bytes()
        self._entries: dict[str, dict] | None = None
        self._prefetcher: Prefetcher | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_entries": None, "_prefetcher": None}

    @property
    def entries(self) -> dict[str, dict]:
        """Manifest shard entries by tar name."""
        if self._entries is None:
            shards = manifest_shards(read_manifest_file(self.folder))
            self._entries = {entry["tar"]: entry for entry in shards}
        return self._entries

    def object_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    @property
    def offline(self) -> str | None:
        """Why the store was unreachable when this process staged the folder (None: it was
        reached): then every tar comes from the cache, verified, or not at all."""
        return _offline.get(str(self.folder))

    def require_cached(self, names: list[str]) -> None:
        """With the store unreachable, refuse in one line unless every tar of `names` sits
        verified in the cache (what a split needs, before a run starts on it)."""
        if self.offline is None:
            return
        missing = [
            name for name in names if not verified_marker_holds(self.folder, self.entries[name])
        ]
        if missing:
            raise SketchcolorError(self._not_cached(missing, of=len(names)))

    def _not_cached(self, missing: list[str], of: int | None = None) -> str:
        count = f"{len(missing)} of the {of} tars needed are" if of else "the tar is"
        return (
            f"{self.object_url(missing[0])}: the store is unreachable ({self.offline}) and "
            f"{count} not verified in the node cache {self.folder}; retry when the store answers"
        )

    def fetch_indexes(self) -> None:
        """Every .idx of the manifest (a few KB each), eight at a time; the tars wait. An .idx
        beside a tar verified with it is kept: it was checked against that tar."""
        bucket, prefix = split_url(self.url)

        def fetch(name: str) -> None:
            partial = self.folder / f".{name}.{os.getpid()}.partial"
            try:
                download(bucket, object_key(prefix, name), partial)
                os.replace(partial, self.folder / name)
            except _transfer_errors() as error:
                partial.unlink(missing_ok=True)
                raise SketchcolorError(
                    f"{self.object_url(name)}: cannot download ({describe_error(error)})"
                ) from None

        names = [entry["idx"] for entry in self.entries.values()
                 if not verified_marker_holds(self.folder, entry)]  # fmt: skip
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(fetch, names))

    def ensure(self, tar: str | Path) -> Path:
        """The local, verified copy of `tar` (a path in this folder or a name), fetched when it
        is missing or damaged; a one-line SketchcolorError naming the object when it cannot be.
        The tar stays in use (never evicted) for the rest of this process's life."""
        name = Path(tar).name
        entry = self.entries.get(name)
        if entry is None:
            raise SketchcolorError(f"{self.object_url(name)}: not in the manifest")
        path = self.folder / name
        lease(self.folder).add(name)  # before the check: an eviction from now on skips it
        with file_lock(self.folder, name, shared=True):
            if verified_marker_holds(self.folder, entry):
                touch(self.folder, name)
                return path
        with file_lock(self.folder, name):
            if verified_marker_holds(self.folder, entry):
                return path  # another rank of this node fetched it meanwhile
            if self.offline is not None:
                raise SketchcolorError(self._not_cached([name]))
            self._fetch(entry)
        if self.max_bytes is not None:
            keep_under(self.root, self.max_bytes)
        return path

    def check_in_store(self, tar: str | Path) -> Path:
        """`ensure` for `sketchcolor verify`: the cache may vouch for a tar only while the store
        still holds the same object. One HEAD of the tar (its ETag and size) and one GET of its
        small .idx; when the ETag differs from the one recorded as the tar was verified, the
        size from the manifest's, the .idx from the cached one, or the cache holds no verified
        copy, the tar and its .idx are fetched again and checked (a SketchcolorError naming
        the object when they are damaged or cannot be read)."""
        name = Path(tar).name
        entry = self.entries.get(name)
        if entry is None:
            raise SketchcolorError(f"{self.object_url(name)}: not in the manifest")
        stored_etag, stored_bytes, stored_index = self._stored_state(entry)
        lease(self.folder).add(name)
        with file_lock(self.folder, name):
            index = self.folder / entry["idx"]
            unchanged = (
                verified_marker_holds(self.folder, entry)
                and marker_etag(self.folder, entry) == stored_etag
                and stored_bytes == entry.get("bytes", stored_bytes)
                and _read_or_none(index) == stored_index
            )
            if unchanged:
                touch(self.folder, name)
                return self.folder / name
            # The .idx the store holds now, checked with the tar fetched again.
            with atomic_output(index) as partial:
                partial.write_bytes(stored_index)
            self._fetch(entry)
        if self.max_bytes is not None:
            keep_under(self.root, self.max_bytes)
        return self.folder / name

    def _stored_state(self, entry: dict) -> tuple[str, int, bytes]:
        """(ETag, size) of the stored tar and the bytes of its stored .idx."""
        bucket, prefix = split_url(self.url)
        client = s3_client()
        try:
            head = client.head_object(Bucket=bucket, Key=object_key(prefix, entry["tar"]))
        except _transfer_errors() as error:
            raise SketchcolorError(
                f"{self.object_url(entry['tar'])}: cannot read ({describe_error(error)})"
            ) from None
        try:
            body = client.get_object(Bucket=bucket, Key=object_key(prefix, entry["idx"]))["Body"]
            index = body.read()
        except _transfer_errors() as error:
            raise SketchcolorError(
                f"{self.object_url(entry['idx'])}: cannot read ({describe_error(error)})"
            ) from None
        return head["ETag"], int(head["ContentLength"]), index

    def release(self, tar: str | Path) -> None:
        """This process no longer uses `tar`: an eviction may delete it again."""
        lease(self.folder).remove(Path(tar).name)

    def ensure_all(self, tars: list[str]) -> None:
        """Stage every tar of `tars`, in order, PREFETCH_THREADS transfers at a time."""
        with ThreadPoolExecutor(
            max_workers=PREFETCH_THREADS, thread_name_prefix="s3-stage"
        ) as pool:
            list(pool.map(self.ensure, tars))

    def _fetch(self, entry: dict) -> None:
        bucket, prefix = split_url(self.url)
        name, index_name = entry["tar"], entry["idx"]
        path, index = self.folder / name, self.folder / index_name
        partial = self.folder / f".{name}.partial"
        marker_path(self.folder, name).unlink(missing_ok=True)  # first: never a marker without
        path.unlink(missing_ok=True)  # the tar it vouches for
        problem = None
        for attempt in range(ATTEMPTS):
            try:
                if attempt > 0 or not index.is_file():
                    index_partial = self.folder / f".{index_name}.{os.getpid()}.partial"
                    download(bucket, object_key(prefix, index_name), index_partial)
                    os.replace(index_partial, index)
                sha256, etag = download(
                    bucket, object_key(prefix, name), partial, entry.get("bytes")
                )
            except _transfer_errors() as error:
                problem = f"cannot download ({describe_error(error)})"
                continue
            problem = shard_problem(partial, index, expected_record(entry), sha256=sha256)
            if problem is None:
                os.replace(partial, path)  # the tar takes its name only once it is verified
                write_verified_marker(self.folder, entry, etag)
                touch(self.folder, name)
                with open(self.folder / DOWNLOADS_LOG, "a") as log:
                    log.write(f"{name} {os.getpid()}\n")
                return
        partial.unlink(missing_ok=True)
        raise SketchcolorError(
            f"{self.object_url(name)}: {problem} (tried {ATTEMPTS} times); check the bucket "
            "and the endpoint, or re-upload the shards with `sketchcolor shards`"
        )

    def prefetch(self, tars: list[str]) -> None:
        """Stage `tars` in this order in a background thread; replaces an earlier request.
        A failure there is left to the loader's own `ensure`, which reports it."""
        entries = [self.entries[Path(tar).name] for tar in tars]
        missing = [
            entry["tar"] for entry in entries if not verified_marker_holds(self.folder, entry)
        ]
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self)
        self._prefetcher.request(missing)


class Prefetcher:
    """PREFETCH_THREADS daemon threads staging a list of tars in order (several transfers at
    once hide each request's latency); a new request drops what is still queued. Daemons, so
    a run that ends does not wait for tars it no longer needs (the lock dies with the process;
    a half-downloaded `.partial` is overwritten by the next fetch)."""

    def __init__(self, remote: RemoteShards) -> None:
        self.remote = remote
        self.queue: queue.Queue = queue.Queue()
        self.generation = 0
        for number in range(PREFETCH_THREADS):
            thread = threading.Thread(target=self._run, name=f"s3-prefetch-{number}", daemon=True)
            thread.start()

    def request(self, tars: list[str]) -> None:
        self.generation += 1
        for tar in tars:
            self.queue.put((self.generation, tar))

    def _run(self) -> None:
        while True:
            generation, tar = self.queue.get()
            if generation != self.generation:
                continue
            with contextlib.suppress(Exception):  # the loader's ensure() reports it
                self.remote.ensure(tar)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _verified_record(folder: Path, entry: dict) -> dict | None:
    """What the `.ok` marker beside a verified tar holds: the manifest's sha256, the tar's stat
    (unchanged since it was hashed) and the sha256 of its small .idx (another rank may replace
    the .idx with the same bytes, which must not undo the tar's verification)."""
    try:
        stat = (folder / entry["tar"]).stat()
        index_sha256 = hashlib.sha256((folder / entry["idx"]).read_bytes()).hexdigest()
    except OSError:
        return None
    return {"sha256": entry["sha256"], "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "inode": stat.st_ino, "idx_sha256": index_sha256}  # fmt: skip


def _marker(folder: Path, entry: dict) -> dict | None:
    try:
        recorded = json.loads(marker_path(folder, entry["tar"]).read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def verified_marker_holds(folder: Path, entry: dict) -> bool:
    """True when the tar of `entry` passed verification against it and is unchanged."""
    recorded = _marker(folder, entry)
    if recorded is None:
        return False
    recorded.pop("etag", None)  # which object version the bytes came from, not a local fact
    return recorded == _verified_record(folder, entry)


def marker_etag(folder: Path, entry: dict) -> str | None:
    """The ETag of the stored object a verified tar was fetched from (None: not recorded)."""
    recorded = _marker(folder, entry)
    return recorded.get("etag") if recorded is not None else None


def write_verified_marker(folder: Path, entry: dict, etag: str | None = None) -> None:
    record = json.dumps({**_verified_record(folder, entry), "etag": etag})
    write_text_atomically(marker_path(folder, entry["tar"]), record)


# --- writing


def remote_manifest(url: str) -> dict | None:
    """URL/manifest.json, or None when the prefix has none (an unfinished or new prefix)."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_url(url)
    try:
        body = s3_client().get_object(Bucket=bucket, Key=object_key(prefix, MANIFEST_FILE))
        text = body["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise SketchcolorError(f"{url}/{MANIFEST_FILE}: {describe_error(error)}") from None
    except _transfer_errors() as error:
        raise SketchcolorError(f"{url}/{MANIFEST_FILE}: {describe_error(error)}") from None
    return parse_manifest(text, f"{url}/{MANIFEST_FILE}")


def upload_folder(local: Path, url: str, *, progress: bool = True) -> int:
    """Upload a finished shard folder: tars and .idx (skipping objects already there with the
    same size and sha256), then manifest.json last. Returns the number of files put."""
    from tqdm import tqdm

    bucket, prefix = split_url(url)
    client = s3_client()
    manifest = read_manifest_file(local)  # a finished folder's
    files = [(entry[kind], entry["sha256"] if kind == "tar" else None)
             for entry in manifest_shards(manifest) for kind in ("tar", "idx")]  # fmt: skip
    put = 0
    for name, sha256 in tqdm(files, desc="upload", unit="file", disable=not progress):
        key = object_key(prefix, name)
        try:
            if sha256 is not None and _already_uploaded(client, bucket, key, local / name, sha256):
                continue
            extra = {"Metadata": {"sha256": sha256}} if sha256 else None
            client.upload_file(str(local / name), bucket, key, ExtraArgs=extra)
            put += 1
        except _transfer_errors() as error:
            raise SketchcolorError(
                f"{url}/{name}: cannot upload ({describe_error(error)}); the prefix has no "
                "manifest yet: re-run the same command to finish it"
            ) from None
    try:
        client.upload_file(str(local / MANIFEST_FILE), bucket, object_key(prefix, MANIFEST_FILE))
    except _transfer_errors() as error:
        raise SketchcolorError(
            f"{url}/{MANIFEST_FILE}: cannot upload ({describe_error(error)}); re-run the same "
            "command to finish it"
        ) from None
    return put + 1


def delete_objects(url: str, names: list[str]) -> None:
    """Delete the objects `names` (relative to the prefix `url`) that a newer manifest no
    longer lists; a failure is a one-line error (the new manifest is already in place)."""
    bucket, prefix = split_url(url)
    client = s3_client()
    keys = [{"Key": object_key(prefix, name)} for name in names]
    for start in range(0, len(keys), 1000):  # S3 deletes at most 1000 keys per request
        try:
            answer = client.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000]}
            )
        except _transfer_errors() as error:
            answer = {"Errors": [{"Key": prefix, "Message": describe_error(error)}]}
        if answer.get("Errors"):
            first = answer["Errors"][0]
            reason = first.get("Message") or first.get("Code")
            raise SketchcolorError(
                f"s3://{bucket}/{first['Key']}: cannot delete ({reason}); the objects the "
                "new manifest replaced are left in place, no longer listed"
            )


def _already_uploaded(client, bucket: str, key: str, path: Path, sha256: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return head["ContentLength"] == path.stat().st_size and head["Metadata"].get("sha256") == sha256
