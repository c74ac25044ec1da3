"""Check shards against their manifest: each tar's size, sha256 and samples, and each `.idx`.

A flipped byte trains silently and a truncated tar fails deep inside a decoder, so `train`,
`evaluate` and `shards` check every tar before using it. Hashing is the slow part, so a tar
that passed is remembered per machine in `~/.cache/sketchcolor/verified.json` (or
`$SKETCHCOLOR_CACHE_DIR/verified.json`) under its path, size, mtime and inode, together with
the manifest's sha256: a file that is unchanged since it passed is not hashed again.

Shards in s3:// are checked in the store: `verify_shards` asks the store for each tar's ETag and
size and for its .idx, and fetches and checks the tar again unless the node cache holds a copy
verified from that very object (data/storage/s3.py); training checks each tar as it arrives.

Usage: problems = verify_shards(Path("shards"))  # [] when every shard is intact
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sketchcolor.config import VerifyConfig
from sketchcolor.data.shards.check import (  # noqa: F401 (verify's own API, kept importable here)
    expected_record,
    index_problem,
    manifest_shards,
    shard_problem,
    tar_members,
)
from sketchcolor.data.shards.manifest import MANIFEST_FILE, read_manifest
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import write_text_atomically

CACHE_FILE = "verified.json"


@dataclass(frozen=True)
class ShardProblem:
    """One bad shard: the tar (its .idx problems are reported under it) and what is wrong;
    for s3:// shards the tar is the object's URL."""

    tar: Path | str
    reason: str

    def __str__(self) -> str:
        return f"{self.tar}: {self.reason}"


def verify_shards(shard_dir: Path, *, splits=None, progress: bool = False) -> list[ShardProblem]:
    """Every problem of the shards of `splits` (all when None); [] when they are intact."""
    from tqdm import tqdm

    from sketchcolor.data.storage.s3 import local_folder, remote_shards

    shard_dir = local_folder(shard_dir)
    manifest = read_manifest(shard_dir)
    remote = remote_shards(shard_dir)
    if remote is not None:
        return remote_problems(remote, manifest_shards(manifest, splits), progress=progress)
    cache = VerifiedCache.load()
    problems = []
    entries = manifest_shards(manifest, splits)
    for entry in tqdm(entries, desc="verify shards", unit="tar", disable=not progress):
        try:
            tar, idx = shard_dir / entry["tar"], shard_dir / entry["idx"]
            expected = expected_record(entry)
        except (KeyError, TypeError):
            raise SketchcolorError(
                f"{shard_dir / MANIFEST_FILE}: malformed shard entry {entry!r}"
            ) from None
        if cache.passed(tar, idx, expected):
            continue
        reason = shard_problem(tar, idx, expected)
        if reason is None:
            cache.remember(tar, idx, expected)
        else:
            problems.append(ShardProblem(tar, reason))
    cache.save()
    return problems


REMOTE_CHECKS = 8  # tars of s3:// shards checked at once (each is a HEAD and a small GET)


def remote_problems(remote, entries: list[dict], *, progress: bool) -> list[ShardProblem]:
    """Check each tar of s3:// shards against the store (`RemoteShards.check_in_store`: the
    object's ETag and size and its .idx, the tar fetched and checked again on any difference
    from the verified copy in the node cache); a tar that fails is a problem named by its
    object URL. Each is let go once checked, so a bounded shard cache evicts the ones checked
    before (--shard-cache-max-gb)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    def check(entry: dict) -> ShardProblem | None:
        try:
            remote.check_in_store(entry["tar"])
        except SketchcolorError as error:
            url = remote.object_url(entry["tar"])
            return ShardProblem(url, str(error).removeprefix(f"{url}: "))
        finally:
            remote.release(entry["tar"])
        return None

    with ThreadPoolExecutor(max_workers=REMOTE_CHECKS, thread_name_prefix="s3-verify") as pool:
        found = tqdm(pool.map(check, entries), total=len(entries), desc="verify shards",
                     unit="tar", disable=not progress)  # fmt: skip
        return [problem for problem in found if problem is not None]


def verify_before_use(shard_dir: Path, *, splits=None, accelerator=None) -> None:
    """Refuse damaged shards with one line naming each bad tar; all processes agree.

    One process per machine checks (the others would only read its cache); the verdict is
    shared with an all-reduce, so no rank waits alone in a barrier while another fails.
    s3:// shards are not fetched whole here: each rank checks each tar as it stages it.
    """
    from sketchcolor.util.locations import is_remote

    if is_remote(shard_dir):
        return
    message = None
    if accelerator is None or accelerator.is_local_main_process:
        try:
            problems = verify_shards(shard_dir, splits=splits)
            if problems:
                message = describe_problems(problems)
        except SketchcolorError as error:
            message = str(error)
    if accelerator is not None and accelerator.num_processes > 1:
        import torch

        flag = torch.tensor([0 if message is None else 1], device=accelerator.device)
        if accelerator.reduce(flag, reduction="max").item() and message is None:
            message = f"{shard_dir}: damaged shards (see the first machine's message)"
    if message is not None:
        raise SketchcolorError(message)


def describe_problems(problems: list[ShardProblem]) -> str:
    """One line for the first bad tar, with a count of the others and the cure."""
    others = f" (and {len(problems) - 1} more bad tar(s))" if len(problems) > 1 else ""
    return (
        f"{problems[0]}{others}; run `sketchcolor verify` for the list and re-run "
        "`sketchcolor shards` to rewrite them, or pass --no-verify"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("SKETCHCOLOR_CACHE_DIR") or Path.home() / ".cache" / "sketchcolor")


class VerifiedCache:
    """Tars that passed, keyed by absolute path, valid while their stat and expectations hold."""

    def __init__(self, path: Path, entries: dict) -> None:
        self.path, self.entries, self.changed = path, entries, False

    @classmethod
    def load(cls) -> VerifiedCache:
        path = cache_dir() / CACHE_FILE
        try:
            entries = json.loads(path.read_text())
            entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            entries = {}  # no cache, or a broken one: verify everything again
        return cls(path, entries)

    @staticmethod
    def _record(tar: Path, idx: Path, expected: dict) -> dict | None:
        try:
            stats = [tar.stat(), idx.stat()]
        except OSError:
            return None
        files = [[stat.st_size, stat.st_mtime_ns, stat.st_ino] for stat in stats]
        return {"files": files, "expected": expected}

    def passed(self, tar: Path, idx: Path, expected: dict) -> bool:
        record = self._record(tar, idx, expected)
        return record is not None and self.entries.get(str(tar.resolve())) == record

    def remember(self, tar: Path, idx: Path, expected: dict) -> None:
        record = self._record(tar, idx, expected)
        if record is not None:
            self.entries[str(tar.resolve())] = record
            self.changed = True

    def save(self) -> None:
        """Write the cache whole or not at all; a cache that cannot be written is skipped."""
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(self.path, json.dumps(self.entries))
        except OSError:
            pass  # a read-only or full home: verification still ran, it is only not remembered


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_location` found."""

    total: int
    """Tars the manifest lists."""
    problems: list[ShardProblem]
    """The bad ones ([] when every tar is intact)."""


def verify_location(config: VerifyConfig) -> VerifyReport:
    """`sketchcolor verify`: every tar of config.shards checked against its manifest (s3://
    ones in the store: each object compared with the copy verified into the config's shard
    cache, fetched and checked again on any difference), with a progress bar."""
    from sketchcolor.data.storage.s3 import local_folder, use_shard_cache

    use_shard_cache(config.shard_cache, config.shard_cache_max_gb)
    local_folder(config.shards, cache_only_if_unreachable=False)  # the store's, or an error
    total = len(manifest_shards(read_manifest(config.shards)))
    return VerifyReport(total, verify_shards(config.shards, progress=True))
