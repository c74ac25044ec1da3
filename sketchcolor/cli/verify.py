"""`sketchcolor verify SHARDS`: check every tar and .idx of a shard folder against its manifest.

Exit status 0 when every shard is intact, 1 when any is damaged (each bad tar named on its
own line), 2 when the folder has no readable manifest. The options are
`sketchcolor.config.VerifyConfig`; `verify_location` runs them.

Usage: sketchcolor verify my-shards
"""

from __future__ import annotations

NAME = "verify"
HELP = "check shards against their manifest (size, sha256, samples, .idx)"
DESCRIPTION = (
    "Check each tar's size, sha256 and sample count and each DALI .idx against manifest.json. "
    "Names every bad tar and exits 1; exits 0 on an intact folder. Tars that passed before "
    "and are unchanged (same size, mtime, inode) are not hashed again. For s3://BUCKET/PREFIX "
    "the store itself is checked: each object's ETag and size and its .idx, and a tar whose "
    "object differs from the node cache's verified copy is fetched and checked again."
)


def options():
    from sketchcolor.config import VerifyConfig

    return VerifyConfig


def run(config) -> int:
    from sketchcolor.data.shards.verify import verify_location

    report = verify_location(config)
    for problem in report.problems:
        print(f"bad shard {problem}")
    if report.problems:
        print(
            f"{config.shards}: {len(report.problems)} of {report.total} tars damaged; "
            "re-run `sketchcolor shards` to rewrite them"
        )
        return 1
    print(f"{config.shards}: all {report.total} tars intact")
    return 0
