"""What a `--data` location names: a local folder, or an s3:// URL (object storage,
data/storage/s3.py). The scheme is decided here and nowhere else, so the configuration can
keep a URL as written without importing the storage client.

Usage: location = data_location("s3://bucket/shards/")   # -> "s3://bucket/shards"
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.errors import SketchcolorError

SCHEME = "s3://"


def is_remote(location: str | Path) -> bool:
    """True for s3:// locations (also as a Path, which folds "s3://" into "s3:/")."""
    return str(location).startswith("s3:/")


def data_location(location: str | Path) -> str | Path:
    """`--data` as the program keeps it: the s3:// URL as text, anything else as a Path."""
    if not is_remote(location):
        return Path(location)
    text = str(location)
    if not text.startswith(SCHEME):
        text = SCHEME + text[len("s3:/") :]
    bucket, _, prefix = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise SketchcolorError(f"{text}: no bucket; write s3://BUCKET/PREFIX")
    return f"{SCHEME}{bucket}/{prefix.strip('/')}".rstrip("/")


def split_url(url: str) -> tuple[str, str]:
    """s3://bucket/a/b -> ("bucket", "a/b")."""
    bucket, _, prefix = str(data_location(url))[len(SCHEME) :].partition("/")
    return bucket, prefix
