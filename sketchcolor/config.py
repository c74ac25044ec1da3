"""The configuration tree: every option of a training run as nested keyword-only dataclasses.

The field docstrings are the help text of the generated CLI (`sketchcolor train --help`, see
sketchcolor/cli/options.py); the quickstart and the tests build the tree directly; a run saves it
as `RUN_DIR/train_config.json`, which `--config` reads back. This module imports no torch, so
the CLI stays fast. `HintConfig` and `LossWeights` are defined here once and used as they are by
the code that samples hints (data/conditioning.py) and computes losses (losses.py).

Usage: config = TrainConfig(data=Path("shards"), out=Path("runs/m21-hints"), model=ModelConfig(name="2.1", color_control="hints"))
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from tyro.conf import FlagCreatePairsOff, OmitArgPrefixes, Positional, arg

from sketchcolor.data.remote import data_location
from sketchcolor.errors import SketchcolorError
from sketchcolor.files import write_text_atomically

COLOR_CONTROLS = ("none", "palette", "hints", "mixed")
"""What the generator gets besides the sketch (see data/conditioning.py)."""
HINT_ENCODINGS = ("overlay", "channels")
HINT_PLACEMENTS = ("grid", "dots")
HINT_SHAPES = ("dots", "strokes", "both")
HINT_SPREADS = ("none", "regions")
LINE_THRESHOLD = 200
"""A sketch pixel whose mean channel value is below this (of 255) is line."""
PALETTE_SIZE = 9
"""Colours in a palette (the paper's 9)."""
PAPER_IMAGE_SIZE = 512
PAPER_LABEL_SIZE = 10
"""The paper's labels are 10x10 px on 512x512 images."""
MIXED_PRECISION_MODES = ("bf16", "fp16", "no")
"""The precisions a run trains in; "auto" (or None) chooses one of them when the run starts."""
LOADER_BACKENDS = ("auto", "dali", "torch")
IMAGE_FORMATS = {"jpeg": "jpg", "png": "png"}
"""Shard image encodings and their file extensions."""
PALETTE_ENGINES = ("auto", "faiss-cpu", "faiss-gpu", "torch")
"""k-means engines of data/palette.py."""
MAX_SKETCH_PIXELS = 4096 * 4096
"""Largest sketch `colorize` and `serve` read unless told otherwise (about 16.8 MP), refused
before it is decoded: a 10000 x 10000 sketch's float copies take 4-8 GB, and a tiny compressed
file can claim a huge size."""
DEFAULT_MAX_FILE_SIZE = "32MB"
"""Largest upload `serve` takes: a line sketch at the pixel limit is a few MB as PNG, a noisy
RGB one nearer 30."""

ColorControl = Literal["none", "palette", "hints", "mixed"]
HintEncoding = Literal["overlay", "channels"]
HintPlacement = Literal["grid", "dots"]
HintShape = Literal["dots", "strokes", "both"]
HintSpread = Literal["none", "regions"]
Upsampling = Literal["transposed", "resize"]
MixedPrecision = Literal["auto", "bf16", "fp16", "no"]
LoaderBackend = Literal["auto", "dali", "torch"]

# Options that must match the checkpoint's run when resuming: changing any of them would make
# the resumed run a different experiment (other weights shapes, other data order or objective).
RESUME_LOCKED_FIELDS = (
    "model.name", "model.color_control", "hints.grid", "hints.label_size", "hints.max_labels",
    "hints.zero_fraction", "hints.encoding", "hints.placement", "hints.spread", "hints.shape",
    "model.upsampling", "model.size", "model.width", "optim.batch_size",
    "optim.grad_accum", "seed", "model.ema", "loss.feature_loss",
)  # fmt: skip


def scaled_label_size(image_size: int) -> int:
    """The paper's 10 px label at 512 scaled to `image_size`, rounded half up, at least 1 px.

    256 -> 5, 128 -> 3, 64 -> 1, 1024 -> 20: a label then covers the same share of the image
    (and of a node cell) at every training size.
    """
    if image_size < 1:
        raise SketchcolorError(f"image size must be positive, got {image_size}")
    return max(1, math.floor(PAPER_LABEL_SIZE * image_size / PAPER_IMAGE_SIZE + 0.5))


def _choose(kind: str, value, choices) -> None:
    if value not in choices:
        raise SketchcolorError(f"unknown {kind} {value!r}; choose one of {', '.join(choices)}")


@dataclass(kw_only=True)
class HintConfig:
    """How training simulates hint labels, and how labels are fed to the generator."""

    grid: Annotated[int, arg(aliases=("--hint-grid",))] = 40
    """Nodes per image side. The paper's "40 nodes" read as a 40x40 grid (a node every
    12.8 px at 512); a small value such as 7 gives the other reading (about 40 nodes in all)."""

    label_size: Annotated[int | None, arg(aliases=("--hint-label-size",))] = PAPER_LABEL_SIZE
    """Side of one square label in pixels of the training image; None: the paper's 10 px at
    512 scaled to the image size (what `HintConfig.for_size(image_size)` fills in)."""

    max_labels: Annotated[int, arg(aliases=("--hint-max-labels",))] = 40
    """Most labels per sample; a sample that gets labels gets 1..max_labels, uniformly."""

    zero_fraction: Annotated[float, arg(aliases=("--hint-zero-fraction",))] = 0.2
    """Fraction of samples that get no labels at all, so sketch-only use stays good."""

    placement: Annotated[HintPlacement, arg(aliases=("--hint-placement",))] = "grid"
    """"grid": the paper's labels, a node square's mean colour (it can straddle lines); "dots":
    dots of label_size px placed as a person places them, inside regions and off the lines, in
    the truth's colour under each dot (the max_labels cap then ignores the grid)."""

    shape: Annotated[HintShape, arg(aliases=("--hint-shape",))] = "dots"
    """With placement "dots": "dots" (label_size squares); "strokes": short brush strokes of
    label_size px width that start where a dot would and walk a few random segments off the
    lines, inside the start's colour region of the truth, in the truth's colour at the start
    (data/strokes.py); "both": each label a dot or a stroke at random."""

    spread: Annotated[HintSpread, arg(aliases=("--hint-spread",))] = "none"
    """"none": the generator sees the labels as drawn; "regions": each label's colour first
    fills the region of the sketch it sits in (trapped-ball regions, data/regions.py), so the
    network is told where a colour goes instead of having to learn to flood it."""

    encoding: Annotated[HintEncoding, arg(aliases=("--hint-encoding",))] = "overlay"
    """"overlay": labels painted over the sketch (3 channels, the paper's); "channels": the
    sketch, the hint RGB and the hint mask as separate channels (7)."""

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise SketchcolorError(f"hint grid must be at least 1, got {self.grid}")
        if self.label_size is not None and self.label_size < 1:
            raise SketchcolorError(f"hint label_size must be at least 1, got {self.label_size}")
        if self.max_labels < 0:
            raise SketchcolorError(f"hint max_labels must be >= 0, got {self.max_labels}")
        if not 0.0 <= self.zero_fraction <= 1.0:
            raise SketchcolorError(
                f"hint zero_fraction must be in [0, 1], got {self.zero_fraction}"
            )
        _choose("hint encoding", self.encoding, HINT_ENCODINGS)
        _choose("hint placement", self.placement, HINT_PLACEMENTS)
        _choose("hint spread", self.spread, HINT_SPREADS)
        _choose("hint shape", self.shape, HINT_SHAPES)
        if self.shape != "dots" and self.placement != "dots":
            raise SketchcolorError(
                f"hint shape {self.shape!r} needs --hint-placement dots (grid labels are squares)"
            )

    @classmethod
    def for_size(cls, image_size: int, **options) -> HintConfig:
        """The config for training at `image_size` x `image_size`.

        `label_size` defaults to `scaled_label_size(image_size)` (10 at 512, 5 at 256) instead
        of a fixed 10 px; every other option, and an explicit `label_size`, is used as given.
        Options that are None are treated as not given (so unset run options keep defaults).
        """
        options = {name: value for name, value in options.items() if value is not None}
        options.setdefault("label_size", scaled_label_size(image_size))
        return cls(**options)

    def to_dict(self) -> dict:
        """JSON-serialisable form, for config.json of a run."""
        return dataclasses.asdict(self)


@dataclass(kw_only=True)
class LossWeights:
    """Coefficients of the generator loss (the paper's c1..c4)."""

    adversarial: Annotated[float, arg(aliases=("--adversarial-weight",))] = 1.0
    """c1: BCE of the discriminator's verdict on the generated pair against "real"."""
    pixel: Annotated[float, arg(aliases=("--pixel-weight",))] = 100.0
    """c2: mean absolute difference between generated and reference color images."""
    feature: Annotated[float, arg(aliases=("--feature-weight",))] = 0.01
    """c3: mean Euclidean distance between VGG16 features of reference and generated images."""
    total_variation: Annotated[float, arg(aliases=("--tv-weight",))] = 1e-4
    """c4: the paper's total variation of the generated image."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not value >= 0:
                raise SketchcolorError(f"loss weight {item.name} must be >= 0, got {value}")


@dataclass(kw_only=True)
class LossConfig:
    """The generator's loss: its four weights and where the VGG16 feature loss comes from."""

    weights: Annotated[LossWeights, arg(name="loss")] = field(default_factory=LossWeights)
    feature_loss: bool = True
    """Use the VGG16 feature loss (needs pretrained weights, see vgg_weights)."""
    vgg_weights: Path | None = None
    """VGG16 ImageNet weights file; None looks in the torch hub cache."""


@dataclass(kw_only=True)
class ModelConfig:
    """Which generator, fed what, how wide, and how it is run."""

    name: Annotated[str, arg(name="model")] = "1"
    """Generator name: 1, 2.1, 2.2 or 3 (see `sketchcolor models`)."""
    color_control: Annotated[ColorControl, arg(name="color")] = "none"
    """Color control fed to the generator besides the sketch: none, palette, hints or mixed."""
    size: int = 512
    """Training resolution (square); a multiple of the generator's size_multiple."""
    width: float = 1.0
    """Channel width multiplier of generator and discriminator (1.0 = the paper's widths)."""
    upsampling: Upsampling = "transposed"
    """How the generator's decoder doubles the size: "transposed" convolutions (the paper's) or
    "resize" (nearest-neighbour resize then a 3x3 convolution: no checkerboard)."""
    ema: bool = False
    """Keep an exponential moving average of the generator; it becomes generator.safetensors."""
    ema_decay: float = 0.999
    """EMA decay per optimizer step."""
    compile: bool = False
    """torch.compile both models (inductor), through Accelerate's dynamo plugin."""
    channels_last: bool = False
    """Store models and batches channels-last (faster convolutions on tensor cores)."""
    sync_batchnorm: bool = False
    """Under multi-GPU DDP, turn BatchNorm layers into SyncBatchNorm (no effect otherwise)."""


@dataclass(kw_only=True)
class LoaderConfig:
    """How batches are read from the shards."""

    backend: Annotated[LoaderBackend, arg(name="loader")] = "auto"
    """Batch loader: dali, torch, or auto (DALI where it decodes on a GPU and a probe pipeline
    runs there; else the torch loader, the faster one on a CPU)."""
    num_workers: int = 2
    """Loader worker threads/processes per rank."""
    verify: bool = True
    """Check the shards against manifest.json first (see `sketchcolor verify`; cached per machine)."""
    dont_use_mmap: bool = False
    """DALI reads the tars instead of memory-mapping them: faster on network file systems."""
    shard_cache: Path | None = None
    """Local folder where s3:// shards are staged and kept (None: $SKETCHCOLOR_SHARD_CACHE,
    else TMPDIR/sketchcolor-shards); put it on the node's local NVMe."""
    shard_cache_max_gb: float | None = None
    """Bound on the verified tars kept in --shard-cache, in GB: after each fetch the least
    recently used ones no running process uses are deleted (fetched again when needed).
    None: $SKETCHCOLOR_SHARD_CACHE_MAX_GB, else no bound."""


@dataclass(kw_only=True)
class OptimConfig:
    """Optimizers, batches and how long to train."""

    epochs: int = 100
    """Passes over the training split (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = 16
    """Samples per process per micro-batch; the global batch is batch_size x processes x grad_accum."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    lr: float = 2e-4
    """Adam learning rate of both generator and discriminator."""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas of both optimizers (pix2pix's 0.5 keeps the GAN stable)."""
    mixed_precision: MixedPrecision | None = None
    """bf16, fp16, no, or auto (None is auto): `accelerate launch`'s bf16 or fp16 if it asks,
    else a resumed run's own, else on a CPU bf16 where it runs natively (AVX512-BF16 or AMX)
    and no (fp32) where bf16 would be emulated, about 4.5x slower; on a GPU no. The run's
    first line says the choice, train_config.json records it."""


@dataclass(kw_only=True)
class OutputConfig:
    """What the run writes while it trains, and how often."""

    save_every: int = 1000
    """Write a checkpoint every this many steps (and always at the end)."""
    keep_checkpoints: int = 3
    """Checkpoints kept in RUN_DIR/checkpoints (the oldest are deleted)."""
    sample_every: int = 500
    """Write a sample grid every this many steps (and always at the end); 0 turns them off."""
    sample_count: int = 4
    """Validation pairs shown in a sample grid."""
    log_every: int = 20
    """Log losses, learning rate and images/s to TensorBoard every this many steps."""
    write_rank_audit: Annotated[bool, arg(name="audit_ranks")] = False
    """Write RUN_DIR/audit/rank-R.json per process: the sample keys it trained on and a hash of its weights."""
    eval_every: int = 0
    """Log val L1, PSNR and SSIM of the generator as it would be exported to TensorBoard every
    this many steps and at the end (0: off); the shards need a val split."""
    eval_images: int = 64
    """Val pairs those metrics are measured on (the first of the split)."""
    batchnorm_batches: int = 32
    """Training batches whose statistics replace the BatchNorm running statistics in every
    export (Model 1; 0 keeps the running ones, which lag the weights: docs/learning.md)."""


def _scaled_hints() -> HintConfig:
    return HintConfig(label_size=None)


@dataclass(kw_only=True)
class TrainConfig:
    """Everything one training run needs; checks itself on creation."""

    data: str | Path
    """Shard folder written by `sketchcolor shards` (holds manifest.json), or s3://BUCKET/PREFIX
    (staged per node into --shard-cache; data/remote.py)."""
    out: Path
    """Run folder: checkpoints, logs, samples, generator.safetensors + config.json."""
    seed: int = 0
    """Seed of weights, data order, flips, dropout and hint sampling."""
    deterministic: bool = False
    """Deterministic GPU kernels (cuDNN deterministic, no autotuning, torch's deterministic
    algorithms, cuBLAS workspace :4096:8), for a bit-identical --resume on CUDA; slower.
    Two backward ops have no deterministic CUDA kernel and torch warns about them: the
    discriminator's adaptive average pool (its windows do not overlap at the trained sizes,
    so its sums are exact anyway) and the feature loss's antialiased resize (with the
    feature loss, CUDA runs agree up to float rounding). Off: cudnn.benchmark autotunes."""
    resume: bool = False
    """Continue from the latest valid checkpoint in RUN_DIR (starts fresh when there is none)."""
    model: OmitArgPrefixes[ModelConfig] = field(default_factory=ModelConfig)
    loader: OmitArgPrefixes[LoaderConfig] = field(default_factory=LoaderConfig)
    optim: OmitArgPrefixes[OptimConfig] = field(default_factory=OptimConfig)
    output: OmitArgPrefixes[OutputConfig] = field(default_factory=OutputConfig)
    hints: HintConfig = field(default_factory=_scaled_hints)
    """Hint labels (color controls hints and mixed); label_size None scales 10 px at 512."""
    loss: Annotated[LossConfig, arg(name="")] = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        if _is_template(self):
            return  # defaults read from a --config file, the required paths still to come
        self.data = data_location(self.data)
        self.out = Path(self.out)
        loss = self.loss
        loss.vgg_weights = Path(loss.vgg_weights) if loss.vgg_weights is not None else None
        self.optim.betas = tuple(float(beta) for beta in self.optim.betas)
        self._check()

    def _check(self) -> None:
        model, optim, output = self.model, self.optim, self.output
        _choose("color control", model.color_control, COLOR_CONTROLS)
        if optim.mixed_precision is not None:
            _choose("mixed precision", optim.mixed_precision, ("auto", *MIXED_PRECISION_MODES))
        _choose("loader backend", self.loader.backend, LOADER_BACKENDS)
        positive = {
            "size": model.size, "epochs": optim.epochs, "batch_size": optim.batch_size,
            "grad_accum": optim.grad_accum, "save_every": output.save_every,
            "keep_checkpoints": output.keep_checkpoints, "log_every": output.log_every,
            "sample_count": output.sample_count,
        }  # fmt: skip
        for name, value in positive.items():
            if value < 1:
                raise SketchcolorError(f"{name} must be at least 1, got {value}")
        if optim.max_steps is not None and optim.max_steps < 1:
            raise SketchcolorError(f"max_steps must be at least 1, got {optim.max_steps}")
        if output.eval_every < 0 or output.eval_images < 1:
            raise SketchcolorError(
                f"eval_every must be 0 (off) or more and eval_images at least 1, got "
                f"{output.eval_every} and {output.eval_images}"
            )
        if output.batchnorm_batches < 0:
            raise SketchcolorError(
                f"batchnorm_batches must be 0 (off) or more, got {output.batchnorm_batches}"
            )
        if output.sample_every < 0:
            raise SketchcolorError(
                f"sample_every must be 0 (off) or more, got {output.sample_every}"
            )
        if not (model.width > 0 and optim.lr > 0 and self.loader.num_workers >= 0):
            raise SketchcolorError("width and lr must be positive and num_workers at least 0")
        if not (len(optim.betas) == 2 and all(0 <= beta < 1 for beta in optim.betas)):
            raise SketchcolorError(f"betas must be two numbers in [0, 1), got {optim.betas}")
        if not 0 < model.ema_decay < 1:
            raise SketchcolorError(f"ema_decay must be in (0, 1), got {model.ema_decay}")

    def to_dict(self) -> dict:
        """A JSON-ready nested dict (paths as strings, tuples as lists), keyed like the fields."""
        return _jsonable(dataclasses.asdict(self))

    def save(self, path: Path) -> None:
        """Write the resolved config as JSON (RUN_DIR/train_config.json)."""
        write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_flat(cls, **values) -> TrainConfig:
        """A config from flat option names (`size=256, hint_grid=8, lr=1e-3`), as presets use."""
        try:
            return cls(**_build_fields(cls, _unflatten_legacy(values)))
        except (TypeError, ValueError) as error:
            raise SketchcolorError(str(error)) from error

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a config written by `save` (or an older flat one); unknown keys are an error."""
        return cls(**read_config_values(cls, path))

    def resume_conflicts(self, previous: TrainConfig) -> list[str]:
        """The locked options that differ from `previous`, as "name: old -> new" lines."""
        mine, theirs = flatten(self.to_dict()), flatten(previous.to_dict())
        return [
            f"{name}: {theirs[name]!r} -> {mine[name]!r}"
            for name in RESUME_LOCKED_FIELDS
            if theirs[name] != mine[name]
        ]


# --- the options of the data commands (`sketchcolor synth`, `sketchcolor shards`)


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
    """k-means engine of sketchcolor.data.palette ("auto" picks the fastest for the device)."""

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
# They live here, not beside the code that uses them (data/line_art.py, data/make_pairs.py,
# serve.py import torch), so that `sketchcolor pairs --help` and `serve --help` import no torch.

LINE_ART_METHODS = ("xdog", "sobel")
PAIR_FITS = ("crop", "pad")
RESAMPLING_FILTERS = ("lanczos", "bicubic", "bilinear", "box")
"""Pillow filters `sketchcolor pairs --resample` takes (data/make_pairs.py maps them)."""
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
    """The line extractor and its parameters (sketchcolor.data.line_art)."""
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


@dataclass(kw_only=True)
class ServeConfig:
    """Options of `sketchcolor serve` (its command line is generated from these fields)."""

    runs: Positional[list[Path]]
    """Run folders to serve (config.json + weights); each is chosen in the app by its folder name."""

    host: str = "127.0.0.1"
    """Address to listen on; 0.0.0.0 serves other machines too, and then needs a login
    (--auth-file) or --no-auth."""

    port: int = 7860
    """Port to listen on."""

    device: str | None = None
    """cuda, cuda:1 or cpu (None: cuda if any); every run is loaded there once."""

    data: str | Path | None = None
    """Shard folder (`sketchcolor shards` output) or s3://BUCKET/PREFIX whose first val
    sketches are shown as examples."""

    shard_cache: Path | None = None
    """Where s3:// shards are staged (None: $SKETCHCOLOR_SHARD_CACHE, else TMPDIR/sketchcolor-shards)."""

    max_pixels: int = MAX_SKETCH_PIXELS
    """Sketches with more pixels than this are refused with a message (about 16 MP)."""

    max_file_size: str = DEFAULT_MAX_FILE_SIZE
    """Uploads larger than this (20MB, 512KB, 1GB; KB = 1024 bytes) are refused with a message."""

    auth: str | None = field(default=None, repr=False)
    """USER:PASSWORD needed to open the app and its API. Other users of this machine see it in
    the process list: prefer --auth-file or $SKETCHCOLOR_SERVE_AUTH (one USER:PASSWORD)."""

    auth_file: Path | None = None
    """A file of user:password lines (blank lines and # comments allowed): each may log in."""

    no_auth: Annotated[bool, FlagCreatePairsOff] = False
    """Serve a non-loopback --host without a login: anyone who reaches it may use it."""

    concurrency: int = 2
    """Requests colored at once; the rest wait in Gradio's queue."""

    examples: int = 4
    """How many val sketches `data` gives as examples."""

    engine: Literal["torch", "onnxruntime"] = "torch"
    """Who runs the generators: PyTorch, or onnxruntime (the onnx extra; each run's
    generator.onnx from `sketchcolor export` when current, else exported at start)."""

    flatten: bool = False
    """Flatten every output: one colour per region the sketch's lines close, a label's colour
    where one sits, else the network's median over the region (sketchcolor.flattening)."""


# --- reading configs: JSON (train_config.json), YAML or TOML, nested or the old flat layout

_FLAT_RENAMES = {
    "model": "model.name", "adversarial_weight": "loss.weights.adversarial",
    "pixel_weight": "loss.weights.pixel", "feature_weight": "loss.weights.feature",
    "total_variation_weight": "loss.weights.total_variation",
    "feature_loss": "loss.feature_loss", "vgg_weights": "loss.vgg_weights",
    "loader_backend": "loader.backend",
}  # fmt: skip
"""Keys of train_config.json before the config became a tree whose place is not section.key."""


def read_config_file(path: Path) -> dict:
    """The values in a .json, .yaml/.yml or .toml file, as a dict."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        elif path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except Exception as error:  # OSError, JSON/TOML ValueErrors, yaml.YAMLError
        raise SketchcolorError(f"{path}: not a readable config ({error})") from error
    if not isinstance(values, dict):
        raise SketchcolorError(f"{path}: a config must be a mapping of option names to values")
    return values


def read_config_values(cls: type, path: Path) -> dict:
    """The keyword arguments of `cls` from a config file; sections become their dataclasses."""
    values = read_config_file(path)
    if cls is TrainConfig and not any(isinstance(value, dict) for value in values.values()):
        values = _unflatten_legacy(values)
    try:
        return _build_fields(cls, values)
    except (TypeError, ValueError) as error:
        raise SketchcolorError(f"{path}: {error}") from error


def template(cls: type, values: dict):
    """An instance of `cls` holding `values`; required fields not in them are tyro.MISSING."""
    import tyro

    missing = {
        item.name: tyro.MISSING
        for item in dataclasses.fields(cls)
        if item.name not in values
        and item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
    }
    return cls(**values, **missing)


def _is_template(config) -> bool:
    import tyro

    return any(getattr(config, item.name) is tyro.MISSING for item in dataclasses.fields(config))


def _build_fields(cls: type, values: dict) -> dict:
    hints = typing.get_type_hints(cls, include_extras=False)
    known = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}")
    fields = {item.name: item for item in dataclasses.fields(cls)}
    built = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            # A section's options not in the file keep the section's own default (for the
            # hints of a training run, label_size None: scaled to the image size).
            factory = fields[name].default_factory
            base = factory() if factory is not dataclasses.MISSING else None
            section = _build_fields(kind, value)
            value = dataclasses.replace(base, **section) if base is not None else kind(**section)
        elif isinstance(value, list):
            value = tuple(value)
        built[name] = value
    return built


def _unflatten_legacy(values: dict) -> dict:
    """An old flat train_config.json as the tree (hint_grid -> hints.grid, lr -> optim.lr)."""
    places = {}
    for section, kind in (("model", ModelConfig), ("loader", LoaderConfig),
                          ("optim", OptimConfig), ("output", OutputConfig)):  # fmt: skip
        places.update({item.name: f"{section}.{item.name}" for item in dataclasses.fields(kind)})
    places.update(
        {f"hint_{item.name}": f"hints.{item.name}" for item in dataclasses.fields(HintConfig)}
    )
    places.update(_FLAT_RENAMES)
    tree: dict = {}
    for key, value in values.items():
        *sections, leaf = places.get(key, key).split(".") if not isinstance(value, dict) else [key]
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return tree


def _jsonable(value):
    if isinstance(value, dict):
        return {name: _jsonable(item) for name, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"model": {"name": "1"}} -> {"model.name": "1"} (for comparisons and TensorBoard)."""
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat
