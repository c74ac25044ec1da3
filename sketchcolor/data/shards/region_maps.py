"""Region maps in the shards: each sketch's trapped-ball regions (data/regions.py), computed once
when the shards are written, at the stored size, from the sketch as the loaders decode it.

A map is the sample's member KEY.regions.png: a 16-bit grayscale PNG (lossless; ids 1..N, one
per region, N < 65536), the same size as one stored half. 16-bit always, so every decoder
(DALI's, torchvision's, PIL's) reads every map the same way. PNG's CRC per chunk lets `verify`
name the sample whose map was damaged. The manifest's `regions` table records the
segmentation's parameters and this format's version (`region_parameters`); shards written
before it have none, and `sketchcolor shards --add-regions` adds the maps in place
(data/shards/add_regions.py).

Usage:
    member = encode_region_map(sketch_regions(sketch))   # sketch: (S, S, 3) uint8
    regions = decode_region_map(member)                  # (S, S) int32
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

from sketchcolor.config import LINE_THRESHOLD
from sketchcolor.errors import SketchcolorError

REGIONS_MEMBER = "regions.png"
"""The member extension of a sample's region map (KEY.regions.png)."""
REGIONS_VERSION = 1
"""Version of the stored maps: bump when the segmentation or the encoding changes."""
MOST_REGIONS = 65535


def region_parameters() -> dict:
    """What the manifest records about the maps: a later change of any of these makes the
    stored maps stale, which `stale_regions` tells."""
    from sketchcolor.data.regions import GAP_RADIUS, MIN_POCKET

    return {
        "version": REGIONS_VERSION,
        "member": REGIONS_MEMBER,
        "encoding": "png-16bit-gray",
        "method": "trapped-ball",
        "gap_radius": GAP_RADIUS,
        "min_pocket": MIN_POCKET,
        "line_threshold": LINE_THRESHOLD,
    }


def sketch_regions(sketch: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 sketch -> (S, S) int32 region ids 1..N (the product's segmentation)."""
    from sketchcolor.data.regions import GAP_RADIUS, line_mask, segment_regions

    return segment_regions(line_mask(sketch), gap_radius=GAP_RADIUS)


def encode_region_map(regions: np.ndarray, where: str = "") -> bytes:
    """(S, S) ids -> the bytes of a 16-bit grayscale PNG."""
    if int(regions.max(initial=0)) > MOST_REGIONS:
        raise SketchcolorError(
            f"{where}: {int(regions.max())} regions, more than a 16-bit map holds ({MOST_REGIONS})"
        )
    buffer = io.BytesIO()
    Image.fromarray(regions.astype(np.uint16)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_region_map(data: bytes) -> np.ndarray:
    """The bytes of a stored map -> (S, S) int32; raises ValueError/OSError when damaged."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode not in ("I;16", "I;16B", "I"):
            raise ValueError(f"mode {image.mode}, not a 16-bit map")
        return np.asarray(image, dtype=np.int32)


def pair_regions(encoded_pair: bytes) -> np.ndarray:
    """The region map of an encoded stored pair (colour left, sketch right), segmented from the
    sketch half as a decoder gives it back (JPEG's loss included)."""
    with Image.open(io.BytesIO(encoded_pair)) as image:
        pair = np.asarray(image.convert("RGB"))
    half = pair.shape[1] // 2
    return sketch_regions(pair[:, half : 2 * half])


def map_problem(data: bytes, half_size: int | None = None) -> str | None:
    """What is wrong with a stored map's bytes, or None. Every chunk's CRC is checked (a
    decoder checks them on the header only)."""
    crc = png_crc_problem(data)
    if crc:
        return crc
    try:
        regions = decode_region_map(data)
    except (OSError, ValueError, SyntaxError) as error:
        return f"not a readable 16-bit PNG ({str(error).splitlines()[0][:80]})"
    if half_size is not None and regions.shape != (half_size, half_size):
        return f"{regions.shape[1]}x{regions.shape[0]}, the pairs are {half_size}x{half_size}"
    if regions.size and int(regions.min()) < 1:
        return "holds id 0 (every pixel belongs to a region 1..N)"
    return None


def png_crc_problem(data: bytes) -> str | None:
    """'CRC of chunk X differs' for the first PNG chunk whose CRC does not hold, or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "not a PNG (bad signature)"
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        body = data[position + 4 : position + 8 + length]
        stored = data[position + 8 + length : position + 12 + length]
        if len(stored) < 4 or zlib.crc32(body).to_bytes(4, "big") != stored:
            return f"CRC of its {body[:4].decode('latin-1')!r} chunk differs"
        position += 12 + length
    return None if position == len(data) else "truncated PNG"


def stale_regions(manifest: dict) -> str | None:
    """Why a manifest's maps cannot be used as stored (none, or other parameters), or None."""
    stored = manifest.get("regions")
    if not stored:
        return "the shards carry no region maps"
    if stored != region_parameters():
        return "the shards' region maps were made with other parameters"
    return None
