"""`sketchcolor verify SHARDS`: check every tar and .idx of a shard folder against its manifest.

Exit status 0 when every shard is intact, 1 when any is damaged (each bad tar named on its
own line), 2 when the folder has no readable manifest.

Usage: sketchcolor verify my-shards
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tyro.conf import Positional

NAME = "verify"
HELP = "check shards against their manifest (size, sha256, samples, .idx)"
DESCRIPTION = (
    "Check each tar's size, sha256 and sample count and each DALI .idx against manifest.json. "
    "Names every bad tar and exits 1; exits 0 on an intact folder. Tars that passed before "
    "and are unchanged (same size, mtime, inode) are not hashed again."
)


@dataclass(kw_only=True)
class VerifyOptions:
    shards: Positional[str | Path]
    """SHARDS: shard folder (holds manifest.json), or s3://BUCKET/PREFIX (every tar is
    fetched into the shard cache and checked there)."""
    shard_cache: Path | None = None
    """Where s3:// shards are staged (None: $SKETCHCOLOR_SHARD_CACHE, else TMPDIR/sketchcolor-shards)."""
    shard_cache_max_gb: float | None = None
    """Bound on the verified tars kept in the shard cache, in GB (least recently used ones not
    in use are deleted after each fetch; None: $SKETCHCOLOR_SHARD_CACHE_MAX_GB, else none)."""


def options():
    return VerifyOptions


def run(options: VerifyOptions) -> int:
    from sketchcolor.data.shards.manifest import read_manifest
    from sketchcolor.data.shards.verify import manifest_shards, verify_shards
    from sketchcolor.data.storage.s3 import use_shard_cache
    from sketchcolor.util.locations import data_location

    use_shard_cache(options.shard_cache, options.shard_cache_max_gb)
    options.shards = data_location(options.shards)
    total = len(manifest_shards(read_manifest(options.shards)))
    problems = verify_shards(options.shards, progress=True)
    for problem in problems:
        print(f"bad shard {problem}")
    if problems:
        print(
            f"{options.shards}: {len(problems)} of {total} tars damaged; "
            "re-run `sketchcolor shards` to rewrite them"
        )
        return 1
    print(f"{options.shards}: all {total} tars intact")
    return 0
