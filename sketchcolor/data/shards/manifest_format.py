"""manifest.json's format and its one parser: the file's name, the format's name and the checks
that make text a finished shard manifest.

Apart from data/shards/manifest.py (the reader by location, which stages s3:// folders through
data/storage/s3.py) so that s3.py can read the manifests it fetches, stages and uploads with
the same checks without an import cycle. Nothing else opens a manifest.json.

Usage: manifest = read_manifest_file(folder); manifest = parse_manifest(body, "s3://b/p/...")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sketchcolor.errors import SketchcolorError

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "sketchcolor-shards/1"


def parse_manifest(text: str | bytes, where: str) -> dict:
    """A manifest's text, checked to be a finished shard folder's of this format; one-line
    errors naming `where` (its path or URL)."""
    try:
        manifest = json.loads(text)
    except ValueError as error:
        raise SketchcolorError(f"{where}: not a readable manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise SketchcolorError(f"{where}: format is not {MANIFEST_FORMAT!r}")
    if not isinstance(manifest.get("splits"), dict):
        raise SketchcolorError(f"{where}: malformed manifest (no 'splits' table)")
    return manifest


def read_manifest_file(folder: str | Path) -> dict:
    """FOLDER/manifest.json of a local folder, parsed and checked (`parse_manifest`)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise SketchcolorError(
            f"{path}: no manifest; is {folder} a shard folder? (no manifest.json)"
        )
    try:
        text = path.read_text()
    except (OSError, ValueError) as error:
        raise SketchcolorError(f"{path}: not a readable manifest ({error})") from error
    return parse_manifest(text, str(path))


def manifest_sha256(folder: str | Path) -> str:
    """The SHA-256 of FOLDER/manifest.json's bytes: names the exact data (files, splits,
    counts), what FID statistics are keyed by and model cards record."""
    path = Path(folder) / MANIFEST_FILE
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise SketchcolorError(f"{path}: cannot read the shard manifest ({error})") from error
