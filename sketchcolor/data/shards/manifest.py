"""The shard folder's manifest.json: its format name and the one reader of it.

`sketchcolor shards` writes it (data/shards/write.py); the loaders, evaluation and runs read it here.
A location may be an s3:// URL: data/storage/s3.py stages it into a local cache folder first.

Usage: manifest = read_manifest("shards"); shards = read_split("shards", "train")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sketchcolor.errors import SketchcolorError

if TYPE_CHECKING:
    from sketchcolor.data.storage.s3 import RemoteShards

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "sketchcolor-shards/1"


def read_manifest(shard_dir: str | Path) -> dict:
    """SHARD_DIR/manifest.json, checked to be a finished shard folder of this format."""
    from sketchcolor.data.storage.s3 import local_folder

    shard_dir = local_folder(shard_dir)
    manifest_path = shard_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise SketchcolorError(
            f"{manifest_path}: no manifest; is {shard_dir} a shard folder? (no manifest.json)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise SketchcolorError(f"{manifest_path}: not a readable manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise SketchcolorError(f"{manifest_path}: format is not {MANIFEST_FORMAT!r}")
    if not isinstance(manifest.get("splits"), dict):
        raise SketchcolorError(f"{manifest_path}: malformed manifest (no 'splits' table)")
    return manifest


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
    return SplitShards(
        tar_paths=[str(shard_dir / shard["tar"]) for shard in shards],
        index_paths=[str(shard_dir / shard["idx"]) for shard in shards],
        count=sum(int(shard["count"]) for shard in shards),
        half_size=manifest.get("half_size"),
        remote=remote_shards(shard_dir),
    )
