"""The shard folder's manifest.json by location: the one reader of it.

`sketchcolor shards` writes it (data/shards/write.py); the loaders, evaluation, runs and model
cards read it here. A location may be an s3:// URL: data/storage/s3.py stages it into a local
cache folder first. The text itself is parsed and checked in data/shards/manifest_format.py
(which s3.py uses too, for what it fetches and uploads).

Usage: manifest = read_manifest("shards"); shards = read_split("shards", "train")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sketchcolor.data.shards.manifest_format import (
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    manifest_sha256,
    read_manifest_file,
)
from sketchcolor.data.shards.region_maps import stale_regions
from sketchcolor.errors import SketchcolorError

if TYPE_CHECKING:
    from sketchcolor.data.storage.s3 import RemoteShards

__all__ = ["MANIFEST_FILE", "MANIFEST_FORMAT", "read_manifest", "read_split", "shards_sha256",
           "split_counts"]  # fmt: skip


def read_manifest(shard_dir: str | Path) -> dict:
    """SHARD_DIR/manifest.json, checked to be a finished shard folder of this format."""
    from sketchcolor.data.storage.s3 import local_folder

    return read_manifest_file(local_folder(shard_dir))


def shards_sha256(shard_dir: str | Path) -> str:
    """The SHA-256 of SHARD_DIR/manifest.json's bytes: names the exact data."""
    from sketchcolor.data.storage.s3 import local_folder

    return manifest_sha256(local_folder(shard_dir))


@dataclass(kw_only=True)
class SplitShards:
    """The tars of one split, their index files and the sample count."""

    tar_paths: list[str]
    """Tar files in manifest order."""

    index_paths: list[str]
    """The DALI `.idx` beside each tar."""

    count: int
    """Samples in the split."""

    half_size: int | None = None
    """Side of every stored half when the shards were written at one size (the manifest's
    `half_size`); None when they keep each source's size."""

    regions: bool = False
    """Every sample carries its region map (KEY.regions.png, data/shards/region_maps.py) made
    with this version's parameters; False for shards written before the maps were stored."""

    remote: RemoteShards | None = None
    """For a cache of s3:// shards: stages each tar before it is opened (`remote.ensure`)."""

    def __post_init__(self) -> None:
        # The tars of s3:// shards arrive as they are needed; the indexes are there already.
        tars = [] if self.remote is not None else self.tar_paths
        for path in [*tars, *self.index_paths]:
            if not Path(path).is_file():
                raise SketchcolorError(f"{path}: missing shard file (re-run `sketchcolor shards`)")


def read_split(shard_dir: str | Path, split: str) -> SplitShards:
    """The tars of `split` from `shard_dir/manifest.json`."""
    from sketchcolor.data.storage.s3 import local_folder, remote_shards

    shard_dir = local_folder(shard_dir)
    manifest_path = shard_dir / MANIFEST_FILE
    manifest = read_manifest(shard_dir)
    splits = manifest.get("splits", {})
    if split not in splits or not splits[split].get("shards"):
        raise SketchcolorError(
            f"{manifest_path}: no split {split!r} (has {', '.join(sorted(splits)) or 'none'})"
        )
    shards = splits[split]["shards"]
    remote = remote_shards(shard_dir)
    if remote is not None:  # a store unreachable at start: every tar from the cache, verified
        remote.require_cached([shard["tar"] for shard in shards])
    return SplitShards(
        tar_paths=[str(shard_dir / shard["tar"]) for shard in shards],
        index_paths=[str(shard_dir / shard["idx"]) for shard in shards],
        count=sum(int(shard["count"]) for shard in shards),
        half_size=manifest.get("half_size"),
        regions=stale_regions(manifest) is None,
        remote=remote,
    )


def split_counts(manifest: dict) -> dict[str, int]:
    """Pairs per split of a manifest (`read_manifest`'s), in its order."""
    return {
        name: sum(int(shard["count"]) for shard in part.get("shards", []))
        for name, part in manifest["splits"].items()
        if isinstance(part, dict)
    }
