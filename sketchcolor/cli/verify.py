"""`sketchcolor verify SHARDS`: check every tar and .idx of a shard folder against its manifest.

Exit status 0 when every shard is intact, 1 when any is damaged (each bad tar named on its
own line), 2 when the folder has no readable manifest.

Usage: sketchcolor verify shards/
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check shards against their manifest (size, sha256, samples, .idx)",
        description="Check each tar's size, sha256 and sample count and each DALI .idx against "
        "manifest.json. Names every bad tar and exits 1; exits 0 on an intact folder. "
        "Tars that passed before and are unchanged (same size, mtime, inode) are not re-hashed.",
    )
    parser.add_argument("shards", type=Path, metavar="SHARDS", help="shard folder")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.data.verify import manifest_shards, read_manifest, verify_shards

    total = len(manifest_shards(read_manifest(args.shards)))
    problems = verify_shards(args.shards, progress=True)
    for problem in problems:
        print(f"bad shard {problem}")
    if problems:
        print(
            f"{args.shards}: {len(problems)} of {total} tars damaged; re-run `sketchcolor shards`"
        )
        return 1
    print(f"{args.shards}: all {total} tars intact")
    return 0
