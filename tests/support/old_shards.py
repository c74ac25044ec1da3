"""Shards as `sketchcolor shards` wrote them before region maps were stored: a copy of a shard
folder with every KEY.regions.png member and the manifest's region entries taken out.

Usage: old = strip_regions(shard_dir, tmp_path / "old")
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from sketchcolor.data.shards.dali_index import IndexedTarWriter, write_dali_index
from sketchcolor.util.files import file_sha256


def strip_regions(shard_dir: Path, out: Path) -> Path:
    """Copy `shard_dir` into `out` without region maps (tars, .idx and manifest rewritten)."""
    shutil.copytree(shard_dir, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("regions", None)
    for split in manifest["splits"].values():
        for entry in split["shards"]:
            tar = out / entry["tar"]
            samples: dict[str, dict[str, bytes]] = {}
            with tarfile.open(tar) as archive:
                for member in archive:
                    key, extension = member.name.split(".", 1)
                    if extension != "regions.png":
                        samples.setdefault(key, {})[extension] = archive.extractfile(member).read()
            with IndexedTarWriter(tar) as writer:
                for key, members in samples.items():
                    writer.add_sample(key, members)
            write_dali_index(out / entry["idx"], writer.index)
            entry.pop("regions", None)
            entry.update(sha256=file_sha256(tar), bytes=tar.stat().st_size)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out
