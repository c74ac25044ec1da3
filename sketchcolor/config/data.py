"""Options of the data commands: `sketchcolor synth`, `sketchcolor shards`, `sketchcolor
pairs` (line art extracted from colour images), `sketchcolor verify` and `sketchcolor datasets`.

Usage: ShardsCommandConfig(source=Path("pairs"), out=Path("shards"), shards=ShardConfig(workers=4))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from tyro.conf import OmitArgPrefixes, Positional, arg

from sketchcolor.config.constants import IMAGE_FORMATS, PALETTE_ENGINES
from sketchcolor.config.files import is_template
from sketchcolor.config.shared import ShardCache, ShardCacheMaxGb
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.locations import data_location


@dataclass(kw_only=True)
class SynthConfig:
    """What `sketchcolor synth` writes."""

    count: int = 100
    """Number of pairs in all (train + val)."""
    size: int = 256
    """Side S of each half; every file is 2S wide and S high."""
    seed: int = 0
    """Seed of every random choice; the same seed gives the same bytes."""
    val_fraction: float = 0.1
    """Share of the pairs written to data/val (the rest go to data/train)."""

    def __post_init__(self):
        if self.count < 1:
            raise SketchcolorError(f"--count must be at least 1, got {self.count}")
        if self.size < 16:
            raise SketchcolorError(f"--size must be at least 16, got {self.size}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise SketchcolorError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")

    @property
    def val_count(self) -> int:
        """Pairs that go to data/val: at least one when val_fraction > 0 and count > 1."""
        if self.val_fraction == 0 or self.count < 2:
            return 0
        return min(self.count - 1, max(1, round(self.count * self.val_fraction)))


@dataclass(kw_only=True)
class ShardConfig:
    """Options of `sketchcolor shards`; all of them go into the manifest."""

    size: int | None = None
    """Resize each half to size x size; None keeps the source size."""
    shard_size: int = 1000
    """Pairs per tar (the last shard of a split holds the rest)."""
    workers: int = 1
    """Worker processes; 1 runs in this process."""
    image_format: Annotated[Literal["jpeg", "png"], arg(name="format")] = "jpeg"
    """"jpeg" (DALI decodes it on the GPU) or "png" (lossless, decoded on the CPU only)."""
    quality: int = 95
    """JPEG quality; chroma is kept at full resolution (4:4:4) so color edges stay sharp."""
    seed: int = 0
    """Seed of the global shuffle and of the palette k-means."""
    palette_engine: Literal["auto", "faiss-cpu", "faiss-gpu", "torch"] = "auto"
    """k-means engine of sketchcolor.data.controls.kmeans ("auto" picks the fastest for the device)."""

    def __post_init__(self):
        if self.size is not None and self.size < 8:
            raise SketchcolorError(f"--size must be at least 8, got {self.size}")
        if self.shard_size < 1:
            raise SketchcolorError(f"--shard-size must be at least 1, got {self.shard_size}")
        if self.workers < 1:
            raise SketchcolorError(f"--workers must be at least 1, got {self.workers}")
        if self.image_format not in IMAGE_FORMATS:
            raise SketchcolorError(
                f"--format must be one of {sorted(IMAGE_FORMATS)}, got {self.image_format!r}"
            )
        if not 1 <= self.quality <= 100:
            raise SketchcolorError(f"--quality must be in 1..100, got {self.quality}")
        if self.palette_engine not in PALETTE_ENGINES:
            raise SketchcolorError(
                f"--palette-engine must be one of {PALETTE_ENGINES}, got {self.palette_engine!r}"
            )


# --- the options of `sketchcolor pairs` (line art from colour images) and `sketchcolor serve`
# They live here, not beside the code that uses them (data/sources/line_art.py, data/sources/make_pairs.py,
# serve.py import torch), so that `sketchcolor pairs --help` and `serve --help` import no torch.

LINE_ART_METHODS = ("xdog", "sobel")
PAIR_FITS = ("crop", "pad")
RESAMPLING_FILTERS = ("lanczos", "bicubic", "bilinear", "box")
"""Pillow filters `sketchcolor pairs --resample` takes (data/sources/make_pairs.py maps them)."""
# Options left out of the recorded fingerprint: batch size and threads never change the bytes;
# the device may change a few rounded pixels (not checked on a GPU yet), but a folder begun on
# one machine may be completed on another.
PAIRS_SPEED_OPTIONS = ("batch_size", "workers", "device")


@dataclass(kw_only=True)
class LineArtConfig:
    """How line art is drawn from a colour image (the defaults were tuned at 256 to 512 px)."""

    method: str = "xdog"
    """"xdog" (difference of Gaussians with a soft threshold) or "sobel" (Sobel magnitude
    with hysteresis, like Canny without thinning)."""
    sigma: float = 0.8
    """XDoG: standard deviation in pixels of the finer Gaussian (line width grows with it);
    also the pre-blur of "sobel"."""
    k: float = 1.6
    """XDoG: ratio of the coarser Gaussian's sigma to `sigma` (1.6: the DoG approximates a
    Laplacian of Gaussian, as in Marr-Hildreth and the XDoG paper)."""
    p: float = 20.0
    """XDoG: sharpening strength; the tau form D = G_sigma - tau G_k*sigma has
    tau = p / (1 + p)."""
    epsilon: float = -0.02
    """XDoG: threshold on the sharpened luminance (0..1 scale); lower gives fewer lines."""
    phi: float = 40.0
    """XDoG: steepness of the soft threshold; large values give hard black-and-white lines."""
    low: float = 0.1
    """Sobel: contrast (0..1) above which an edge pixel is kept when it touches a strong one."""
    high: float = 0.25
    """Sobel: contrast (0..1) above which an edge pixel is always kept."""

    def __post_init__(self):
        if self.method not in LINE_ART_METHODS:
            raise SketchcolorError(
                f"--method must be one of {LINE_ART_METHODS}, got {self.method!r}"
            )
        if not self.sigma > 0 or not self.k > 1:
            raise SketchcolorError(
                f"--sigma must be > 0 and --k > 1, got sigma={self.sigma} k={self.k}"
            )
        if self.p < 0 or not self.phi > 0:
            raise SketchcolorError(f"--p must be >= 0 and --phi > 0, got p={self.p} phi={self.phi}")
        if not 0 <= self.low <= self.high:
            raise SketchcolorError(f"need 0 <= --low <= --high, got {self.low} and {self.high}")


@dataclass(kw_only=True)
class PairsConfig:
    """Options of `sketchcolor pairs`; all but the speed options go into OUT/pairs.json."""

    size: int = 512
    """Side S of each half; every pair file is 2S wide and S high."""
    fit: str = "crop"
    """How a non-square image becomes square: "crop" (centre crop, keeps the middle) or "pad"
    (white margins, keeps the whole picture)."""
    resample: str = "lanczos"
    """Resampling filter: "lanczos", "bicubic", "bilinear" or "box"; Pillow widens the filter
    when it shrinks an image, so every choice is antialiased."""
    min_size: int | None = None
    """Skip images whose square (the shorter side for crop, the longer for pad) is smaller than
    this; None means `size`, so nothing is ever enlarged (enlarged pictures give blurred lines)."""
    allow_grayscale: bool = False
    """Keep images without colour (skipped by default: they teach a colorizer nothing)."""
    line_art: LineArtConfig = field(default_factory=LineArtConfig)
    """The line extractor and its parameters (sketchcolor.data.sources.line_art)."""
    batch_size: int = 16
    """Images whose line art is drawn in one batch on the device."""
    workers: int = 1
    """Threads that decode, resize and encode images (Pillow works outside the GIL)."""
    device: str = "auto"
    """Torch device of the extractor: "auto" (CUDA when present, else the CPU), "cpu", "cuda"
    (a GPU may round a few pixels differently from the CPU)."""

    def __post_init__(self):
        if self.size < 8:
            raise SketchcolorError(f"--size must be at least 8, got {self.size}")
        if self.fit not in PAIR_FITS:
            raise SketchcolorError(f"--fit must be one of {PAIR_FITS}, got {self.fit!r}")
        if self.resample not in RESAMPLING_FILTERS:
            raise SketchcolorError(
                f"--resample must be one of {RESAMPLING_FILTERS}, got {self.resample!r}"
            )
        if self.min_size is not None and self.min_size < 1:
            raise SketchcolorError(f"--min-size must be at least 1, got {self.min_size}")
        if self.batch_size < 1 or self.workers < 1:
            raise SketchcolorError(
                f"--batch-size and --workers must be at least 1, got {self.batch_size} and "
                f"{self.workers}"
            )

    @property
    def smallest_side(self) -> int:
        return self.size if self.min_size is None else self.min_size

    def fingerprint(self) -> dict:
        """The options that decide the output bytes."""
        options = dataclasses.asdict(self)
        for name in PAIRS_SPEED_OPTIONS:
            options.pop(name)
        return options


# --- the command lines of the data commands: where from and where to, and the options above
# as flat flags (OmitArgPrefixes: --count, not --synth.count). A --config file keeps the same
# nesting ({"out": ..., "synth": {"count": ...}}).


@dataclass(kw_only=True)
class SynthCommandConfig:
    """Options of `sketchcolor synth` (sketchcolor.data.sources.synth.write_synthetic_dataset)."""

    out: Positional[Path]
    """OUT: output folder."""
    synth: OmitArgPrefixes[SynthConfig] = field(default_factory=SynthConfig)


@dataclass(kw_only=True)
class ShardsCommandConfig:
    """Options of `sketchcolor shards` (sketchcolor.data.shards.write.write_shards)."""

    source: Positional[Path | None] = None
    """SRC: folder of pair images."""
    out: Positional[str | Path | None] = None
    """OUT: output folder for the shards, or s3://BUCKET/PREFIX (written locally under the
    shard cache, then uploaded: each tar and .idx, the manifest last)."""
    add_regions: str | None = None
    """SHARDS: instead of writing shards, add region maps in place to shards written before
    they were stored (a folder or s3://BUCKET/PREFIX; atomic: the manifest switches last;
    resumable: re-run to finish)."""
    shards: OmitArgPrefixes[ShardConfig] = field(default_factory=ShardConfig)

    def __post_init__(self):
        if self.add_regions is not None:
            self.add_regions = str(data_location(self.add_regions))
        elif not is_template(self):  # a --config file's defaults may leave SRC and OUT out
            if self.source is None or self.out is None:
                raise SketchcolorError("shards needs SRC and OUT (or --add-regions SHARDS)")
            self.out = data_location(self.out)


@dataclass(kw_only=True)
class PairsCommandConfig:
    """Options of `sketchcolor pairs` (sketchcolor.data.sources.make_pairs.make_pairs); the
    line-art options of PairsConfig are flat flags too (--method, --sigma ...)."""

    source: Positional[Annotated[Path, arg(metavar="SRC")]]
    """folder of color images"""
    out: Positional[Annotated[Path, arg(metavar="OUT")]]
    """output folder for the pairs"""
    pairs: OmitArgPrefixes[PairsConfig] = field(default_factory=PairsConfig)


@dataclass(kw_only=True)
class VerifyConfig:
    """Options of `sketchcolor verify` (sketchcolor.data.shards.verify.verify_location)."""

    shards: Positional[str | Path]
    """SHARDS: shard folder (holds manifest.json), or s3://BUCKET/PREFIX (each object is
    checked in the store: its ETag and size against the copy verified into the shard cache,
    fetched and checked again on any difference)."""
    shard_cache: ShardCache = None
    shard_cache_max_gb: ShardCacheMaxGb = None

    def __post_init__(self):
        if not is_template(self):
            self.shards = data_location(self.shards)


@dataclass(kw_only=True)
class DatasetsConfig:
    """Options of `sketchcolor datasets` (sketchcolor.data.sources.openmoji.write_dataset)."""

    name: Positional[Literal["openmoji"]]
    """NAME: the data set (openmoji)."""
    out: Positional[Path]
    """OUT: output folder for the pairs."""
    size: int = 256
    """Side of each half in pixels."""
    limit: int | None = None
    """Only N source pictures, spread evenly over the collection: a subset for tests and trials."""
