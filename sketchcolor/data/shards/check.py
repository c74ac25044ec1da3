"""What a sound shard is: a tar's size, samples and sha256 against its manifest entry, and its
DALI `.idx` against the tar's members.

The checks behind `sketchcolor verify` (data/shards/verify.py) and behind the staging of s3:// shards
(data/storage/s3.py), kept apart from both so neither imports the other.

Usage: problem = shard_problem(tar, idx, expected_record(entry))  # None when the shard is sound
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from sketchcolor.data.shards.dali_index import INDEX_VERSION
from sketchcolor.data.shards.region_maps import REGIONS_MEMBER
from sketchcolor.util.files import file_sha256


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
    expected = {"sha256": entry["sha256"], "count": entry["count"], "bytes": entry.get("bytes")}
    if entry.get("regions"):  # shards with region maps: how many (one per sample)
        expected["regions"] = entry["regions"]
    return expected


def shard_problem(tar: Path, idx: Path, expected: dict, sha256: str | None = None) -> str | None:
    """What is wrong with one tar and its .idx, or None. `sha256`: the tar's, when its bytes
    were hashed as they were written (a download); else the file is read and hashed here."""
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
    maps = [name for name in members if name.endswith(f".{REGIONS_MEMBER}")]
    if expected.get("regions") and len(maps) != expected["regions"]:
        return f"{len(maps)} region maps, the manifest says {expected['regions']}"
    if (sha256 or file_sha256(tar)) != expected["sha256"]:
        damaged = damaged_map(tar, members, maps)
        reason = "sha256 differs from the manifest (the file is damaged)"
        return f"{damaged}; {reason}" if damaged else reason
    return index_problem(idx, members, expected["count"])


def damaged_map(tar: Path, members: dict[str, tuple[int, int]], maps: list[str]) -> str | None:
    """'sample KEY: region map ...' for the first stored map that does not decode (PNG's CRCs
    catch a flipped byte), or None; looked for only once the tar's sha256 differs."""
    from sketchcolor.data.shards.region_maps import map_problem

    with open(tar, "rb") as file:
        for name in maps:
            offset, size = members[name]
            file.seek(offset)
            problem = map_problem(file.read(size))
            if problem:
                return f"sample {name.split('.', 1)[0]}: region map damaged ({problem})"
    return None


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


def sample_names(tar: Path) -> dict[str, str]:
    """key -> the name of the file each sample of a tar was written from (its `.id` member),
    so a benchmark can pair samples by what they show (OpenMoji's code points)."""
    names = {}
    with tarfile.open(tar, "r:") as archive:
        for member in archive:
            if member.name.endswith(".id"):
                names[member.name[: -len(".id")]] = archive.extractfile(member).read().decode()
    return names
