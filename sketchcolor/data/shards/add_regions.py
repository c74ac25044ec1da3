"""`sketchcolor shards --add-regions SHARDS`: add region maps to shards written before they were
stored (or made with other segmentation parameters), in place, under the rules of a fresh write.

Each tar is checked against the manifest, then rewritten beside itself as NAME-regions.tar
(+ .idx) with every sample's KEY.regions.png added (data/shards/region_maps.py); the bytes are
those a fresh `sketchcolor shards` writes. The old manifest and tars stay valid until the new
manifest replaces the old one in one rename; the old tars are removed after. A run that stops
is resumed by running it again: each finished tar is recorded in SHARDS/.add-regions/ and not
redone. s3://BUCKET/PREFIX shards are staged through the shard cache (each tar verified as it
arrives), upgraded in a local folder, and uploaded as a fresh write is (tars and .idx first,
the manifest last); the old objects are deleted after, so run it while no job reads the
shards (as on disk, where the old tars are removed once the new manifest is in place).

Usage: print(add_regions("shards"))
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from sketchcolor.data.shards.check import expected_record, manifest_shards, shard_problem
from sketchcolor.data.shards.dali_index import IndexedTarWriter, write_dali_index
from sketchcolor.data.shards.manifest_format import MANIFEST_FILE, read_manifest_file
from sketchcolor.data.shards.region_maps import (
    REGIONS_MEMBER,
    encode_region_map,
    pair_regions,
    region_parameters,
    stale_regions,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import file_sha256, write_text_atomically
from sketchcolor.util.locations import data_location, is_remote, split_url

WORK = ".add-regions"
RETIRE = "retire.json"
SUFFIX = "-regions"


def add_regions(location: str | Path, *, progress: bool = True) -> str:
    """Add region maps to the shards at `location` (a folder or s3:// URL); one-line summary."""
    location = data_location(location)
    if is_remote(location):
        return _add_remote(str(location), progress=progress)
    from sketchcolor.data.shards.guard import folder_lock

    folder = Path(location)
    with folder_lock(folder):
        manifest = read_manifest_file(folder)
        if stale_regions(manifest) is None:
            _retire(folder)  # a run stopped after its manifest switched: finish the clean-up
            return f"{folder}: the shards already carry region maps; nothing to do"
        tars = lambda entry: _checked_tar(folder, entry)  # noqa: E731
        upgraded = upgrade_shards(manifest, tars, folder, progress=progress)
        old = [entry[kind] for entry in manifest_shards(manifest) for kind in ("tar", "idx")]
        write_text_atomically(folder / WORK / RETIRE, json.dumps(old) + "\n")
        write_text_atomically(folder / MANIFEST_FILE, json.dumps(upgraded, indent=2) + "\n")
        _retire(folder)
    return f"{folder}: region maps added to {_summary(upgraded)}"


def _add_remote(url: str, *, progress: bool) -> str:
    from sketchcolor.data.storage.s3 import (
        delete_objects,
        local_folder,
        remote_shards,
        shard_cache_root,
        upload_folder,
    )

    folder = local_folder(url)
    manifest = read_manifest_file(folder)
    if stale_regions(manifest) is None:
        return f"{url}: the shards already carry region maps; nothing to do"
    remote = remote_shards(folder)
    bucket, prefix = split_url(url)
    work = shard_cache_root() / "add-regions" / bucket / prefix

    try:  # each tar is verified against the manifest as it arrives
        upgraded = upgrade_shards(manifest, lambda entry: remote.ensure(entry["tar"]), work,
                                  progress=progress)  # fmt: skip
    finally:
        for entry in manifest_shards(manifest):
            remote.release(entry["tar"])
    write_text_atomically(work / MANIFEST_FILE, json.dumps(upgraded, indent=2) + "\n")
    upload_folder(work, url, progress=progress)
    listed = {entry[kind] for entry in manifest_shards(upgraded) for kind in ("tar", "idx")}
    replaced = [entry[kind] for entry in manifest_shards(manifest) for kind in ("tar", "idx")]
    delete_objects(url, [name for name in replaced if name not in listed])
    shutil.rmtree(work, ignore_errors=True)
    return f"{url}: region maps added to {_summary(upgraded)}"


def upgrade_shards(
    manifest: dict, tars: Callable[[dict], Path], out: Path, *, progress: bool
) -> dict:
    """Rewrite every shard of `manifest` with region maps into `out` (tars(entry): the local,
    checked old tar); -> the new manifest. Shards recorded in OUT/.add-regions are kept."""
    from tqdm import tqdm

    (out / WORK).mkdir(parents=True, exist_ok=True)
    upgraded = json.loads(json.dumps(manifest))  # a deep copy
    entries = manifest_shards(upgraded)
    for entry in tqdm(entries, desc="add regions", unit="tar", disable=not progress):
        record_path = out / WORK / f"{Path(entry['tar']).stem}.json"
        record = _finished(record_path, out)
        if record is None:
            record = upgrade_tar(tars(entry), out, _renamed(entry["tar"]), _renamed(entry["idx"]))
            write_text_atomically(record_path, json.dumps(record) + "\n")
        entry.update(record)
    upgraded["regions"] = region_parameters()
    return upgraded


def upgrade_tar(tar: Path, out: Path, tar_name: str, idx_name: str) -> dict:
    """`tar` rewritten as OUT/tar_name (+ OUT/idx_name) with each sample's region map; -> its
    manifest entry's fields. Each file appears whole (written as .partial, then renamed)."""
    partial = out / f"{tar_name}.partial"
    with IndexedTarWriter(partial) as writer:
        for key, members in _samples(tar):
            image = members.get("jpg", members.get("png"))
            if image is None:
                raise SketchcolorError(f"{tar}: sample {key} has no jpg or png member")
            regions = encode_region_map(pair_regions(image), f"{tar}:{key}")
            members.pop(REGIONS_MEMBER, None)  # maps of other parameters: made again
            writer.add_sample(key, _with_regions(members, regions))
    count = len(writer.index)
    write_dali_index(out / f"{idx_name}.partial", writer.index)
    os.replace(out / f"{idx_name}.partial", out / idx_name)
    os.replace(partial, out / tar_name)
    path = out / tar_name
    return {"tar": tar_name, "idx": idx_name, "count": count, "sha256": file_sha256(path),
            "bytes": path.stat().st_size, "regions": count}  # fmt: skip


def _samples(tar: Path):
    """(key, {extension: bytes}) of each sample of a tar, in stored order."""
    key, members = None, {}
    with tarfile.open(tar, "r:") as archive:
        for member in archive:
            name, extension = member.name.split(".", 1)
            if name != key and key is not None:
                yield key, members
                members = {}
            key = name
            members[extension] = archive.extractfile(member).read()
    if key is not None:
        yield key, members


def _with_regions(members: dict, regions: bytes) -> dict:
    """The members in a fresh write's order: the map goes just before "id"."""
    ordered = {}
    for extension, data in members.items():
        if extension == "id":
            ordered[REGIONS_MEMBER] = regions
        ordered[extension] = data
    ordered.setdefault(REGIONS_MEMBER, regions)
    return ordered


def _checked_tar(folder: Path, entry: dict) -> Path:
    tar, idx = folder / entry["tar"], folder / entry["idx"]
    problem = shard_problem(tar, idx, expected_record(entry))
    if problem:
        raise SketchcolorError(f"{tar}: {problem}; rewrite the shards with `sketchcolor shards`")
    return tar


def _finished(record_path: Path, out: Path) -> dict | None:
    """A shard upgraded by an earlier run (its record, and its tar whole), or None."""
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text())
    tar = out / record["tar"]
    if not (
        tar.is_file() and tar.stat().st_size == record["bytes"] and (out / record["idx"]).is_file()
    ):
        return None
    return record


def _renamed(name: str) -> str:
    path = Path(name)
    return f"{path.stem}{SUFFIX}{path.suffix}"


def _retire(folder: Path) -> None:
    """Remove the old tars and .idx the switched manifest no longer lists, then the records."""
    retire = folder / WORK / RETIRE
    if retire.is_file():
        listed = {entry[kind] for entry in manifest_shards(read_manifest_file(folder))
                  for kind in ("tar", "idx")}  # fmt: skip
        for name in json.loads(retire.read_text()):
            if name not in listed:
                (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / WORK, ignore_errors=True)


def _summary(manifest: dict) -> str:
    entries = manifest_shards(manifest)
    return f"{sum(entry['count'] for entry in entries)} samples in {len(entries)} tar(s)"
