"""Options several commands take, each declared once with its help: the torch device, the
s3:// shard cache, the Inception weights of FID. A field of this type needs no docstring:
the help written here is the one every command shows (tyro prefers it to a docstring).

Usage:
    @dataclass(kw_only=True)
    class FidConfig:
        device: Device = None
        inception_weights: InceptionWeights = None
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from tyro.conf import arg

Device = Annotated[str | None, arg(help="cuda, cuda:1 or cpu (None: cuda if any).")]
"""--device of colorize, fid and serve (a torch device name)."""

ShardCache = Annotated[
    Path | None,
    arg(
        help="Local folder where s3:// shards are staged and kept (None: "
        "$SKETCHCOLOR_SHARD_CACHE, else TMPDIR/sketchcolor-shards); put it on the node's "
        "local NVMe."
    ),
]
"""--shard-cache of train, evaluate, verify and serve (data/storage/s3.py `use_shard_cache`)."""

ShardCacheMaxGb = Annotated[
    float | None,
    arg(
        help="Bound on the verified tars kept in --shard-cache, in GB: after each fetch the "
        "least recently used ones no running process uses are deleted (fetched again when "
        "needed). None: $SKETCHCOLOR_SHARD_CACHE_MAX_GB, else no bound."
    ),
]
"""--shard-cache-max-gb, beside --shard-cache where a command keeps tars for long."""

InceptionWeights = Annotated[
    Path | None,
    arg(help="pt_inception-2015-12-05-6726825d.pth (None: the torch hub cache)."),
]
"""--inception-weights of evaluate and fid (evaluation/fid.py)."""
