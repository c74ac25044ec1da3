"""Check shards against their manifest: each tar's size, sha256 and samples, and each `.idx`.

A flipped byte trains silently and a truncated tar fails deep inside a decoder, so `train`,
`evaluate` and `shards` check every tar before using it. Hashing is the slow part, so a tar
that passed is remembered per machine in `~/.cache/sketchcolor/verified.json` (or
`$SKETCHCOLOR_CACHE_DIR/verified.json`) under its path, size, mtime and inode, together with
the manifest's sha256: a file that is unchanged since it passed is not hashed again.

Usage: problems = verify_shards(Path("shards"))  # [] when every shard is intact
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sketchcolor.data.dali_index import INDEX_VERSION
from sketchcolor.data.manifest import MANIFEST_FILE, read_manifest
from sketchcolor.errors import SketchcolorError
from sketchcolor.files import file_sha256, write_text_atomically

CACHE_FILE = "verified.json"


@dataclass(frozen=True)
class ShardProblem:
    """One bad shard: the tar (its .idx problems are reported under it) and what is wrong."""

    tar: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.tar}: {self.reason}"


def manifest_shards(manifest: dict, splits=None) -> list[dict]:
    """The shard entries of the chosen splits (all when None), in manifest order."""
    entries = []
    for name, split in manifest["splits"].items():
        if splits is None or name in splits:
            entries.extend(split.get("shards", []))
    return entries


def expected_record(entry: dict) -> dict:
    """What the verified-tar cache compares for a manifest shard entry (KeyError when the
    entry lacks its sha256 or count; manifests older than the byte size give None)."""
    return {"sha256": entry["sha256"], "count": entry["count"], "bytes": entry.get("bytes")}


def verify_shards(shard_dir: Path, *, splits=None, progress: bool = False) -> list[ShardProblem]:
    """Every problem of the shards of `splits` (all when None); [] when they are intact."""
    from tqdm import tqdm

    shard_dir = Path(shard_dir)
    manifest = read_manifest(shard_dir)
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


def shard_problem(tar: Path, idx: Path, expected: dict) -> str | None:
    """What is wrong with one tar and its .idx, or None."""
    if not tar.is_file():
        return "missing"
    size = tar.stat().st_size
    if expected["bytes"] is not None and size != expected["bytes"]:
        return f"{size} bytes, the manifest says {expected['bytes']} (truncated or replaced)"
    members, tar_problem = tar_members(tar)
    if tar_problem:
        return tar_problem
    samples = len({name.split(".", 1)[0] for name in members})
    if samples != expected["count"]:
        return f"{samples} samples, the manifest says {expected['count']}"
    if file_sha256(tar) != expected["sha256"]:
        return "sha256 differs from the manifest (the file is damaged)"
    return index_problem(idx, members, expected["count"])


def tar_members(tar: Path) -> tuple[dict[str, tuple[int, int]], str | None]:
    """name -> (data offset, size) of every member, or a reason when the tar does not read."""
    size = tar.stat().st_size
    members = {}
    try:
        with tarfile.open(tar, "r:") as archive:
            for member in archive:
                if member.offset_data + member.size > size:
                    return members, f"truncated inside {member.name}"
                members[member.name] = (member.offset_data, member.size)
    except (tarfile.TarError, OSError, EOFError) as error:
        return members, f"not a readable tar ({error})"
    return members, None


def index_problem(idx: Path, members: dict[str, tuple[int, int]], count: int) -> str | None:
    """What is wrong with the DALI .idx beside a tar (its entries must match the tar's members)."""
    if not idx.is_file():
        return f"its index {idx.name} is missing"
    try:
        lines = idx.read_text().splitlines()
        header = lines[0].split()
        if header[0] != INDEX_VERSION or int(header[1]) != count or len(lines) - 1 != count:
            return f"its index {idx.name} lists {len(lines) - 1} samples, expected {count}"
        for line in lines[1:]:
            fields = line.split()
            if not fields or len(fields) % 4:
                return f"its index {idx.name} has a malformed line"
            for position in range(0, len(fields), 4):
                _, offset, size, name = fields[position : position + 4]
                if members.get(name) != (int(offset), int(size)):
                    return f"its index {idx.name} does not match the tar at {name}"
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return f"its index {idx.name} is not a readable DALI index"
    return None


def verify_before_use(shard_dir: Path, *, splits=None, accelerator=None) -> None:
    """Refuse damaged shards with one line naming each bad tar; all processes agree.

    One process per machine checks (the others would only read its cache); the verdict is
    shared with an all-reduce, so no rank waits alone in a barrier while another fails.
    """
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
