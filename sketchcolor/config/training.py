"""The training tree: every option of `sketchcolor train` as nested keyword-only dataclasses.

The field docstrings are the help text of the generated CLI (`sketchcolor train --help`, see
sketchcolor/cli/options.py); a run saves the tree as `RUN_DIR/train_config.json`, which
`--config` reads back (config/files.py).

Usage: config = TrainConfig(data=Path("shards"), out=Path("runs/m21-hints"), model=ModelConfig(name="2.1", color_control="hints"))
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from tyro.conf import OmitArgPrefixes, arg

from sketchcolor.config.constants import (
    COLOR_CONTROLS,
    DEFAULT_COLLECTIVE_TIMEOUT,
    DEFAULT_INIT_TIMEOUT,
    LOADER_BACKENDS,
    MIXED_PRECISION_MODES,
    RESUME_LOCKED_FIELDS,
    ColorControl,
    LoaderBackend,
    MixedPrecision,
    Upsampling,
    check_choice,
)
from sketchcolor.config.controls import HintConfig
from sketchcolor.config.files import (
    build_fields,
    flatten,
    is_template,
    jsonable,
    read_config_values,
)
from sketchcolor.config.shared import ShardCache, ShardCacheMaxGb
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import write_text_atomically
from sketchcolor.util.locations import data_location

MAX_COLOR_CLASSES = 512
"""The colour codebook's cells: an 8-level grid per channel has 512 (data/controls/color_classes.py)."""


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
    color_classes: Annotated[float, arg(aliases=("--color-class-weight",))] = 1.0
    """The class-rebalanced cross-entropy of the colour classes (only with color_classes > 0)."""

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
    class_rebalance: float = 0.5
    """With color_classes: Zhang et al.'s lambda, how much of the uniform the class prior is
    mixed with before it is inverted into the cross-entropy's class weights (0: weights 1 /
    prior, rare colours count most; 1: every class alike, no rebalancing)."""

    region_borders: float = 0.0
    """How much more the pixel and colour-class losses weigh the pixels near a border of the
    shards' trapped-ball regions (within 1/40 of the size: an outline and what a network
    smears past it): weight 1 + this, averaged to 1 per batch; 0: every pixel alike."""

    def __post_init__(self) -> None:
        if not self.region_borders >= 0:
            raise SketchcolorError(f"region_borders must be >= 0, got {self.region_borders}")
        if not 0.0 <= self.class_rebalance <= 1.0:
            raise SketchcolorError(f"class_rebalance must be in [0, 1], got {self.class_rebalance}")


@dataclass(kw_only=True)
class ModelConfig:
    """Which generator, fed what, how wide, and how it is run."""

    name: Annotated[str, arg(name="model")] = "1"
    """Generator name: 1, 2.1, 2.2 or 3 (the paper's), or R (ours, for --color reference); see
    `sketchcolor models`."""
    color_control: Annotated[ColorControl, arg(name="color")] = "none"
    """Color control fed to the generator besides the sketch: none, palette, hints, mixed, or
    reference (a coloured picture of the same character, made in training by warping the
    pair's own colours, with hint labels as in hints; model R reads it by attention)."""
    size: int = 512
    """Training resolution (square); a multiple of the generator's size_multiple."""
    width: float = 1.0
    """Channel width multiplier of generator and discriminator (1.0 = the paper's widths)."""
    upsampling: Upsampling = "transposed"
    """How the generator's decoder doubles the size: "transposed" convolutions (the paper's) or
    "resize" (nearest-neighbour resize then a 3x3 convolution: no checkerboard)."""
    color_classes: int = 0
    """Predict each pixel's colour as a distribution over this many colours of the training
    set, trained by a class-rebalanced cross-entropy (Zhang et al. 2016; models/heads.py);
    0: the paper's RGB regression."""
    copy_labels: bool = False
    """Give the generator a per-pixel gate that copies the spread label colours of its input
    into its output (models/heads.py); controls without separate hint channels (none,
    palette, the overlay encoding) have no labels to copy and get no gate."""
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
    shard_cache: ShardCache = None
    shard_cache_max_gb: ShardCacheMaxGb = None


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
class DistributedConfig:
    """How long the processes of a multi-process run wait for each other (one process: unused)."""

    init_timeout: float = DEFAULT_INIT_TIMEOUT
    """Seconds the processes wait for each other while the run starts: joining the process
    group, and every collective before the first step (one process per machine checks the
    shards while the others wait; a checkpoint loads)."""
    collective_timeout: float = DEFAULT_COLLECTIVE_TIMEOUT
    """Seconds a process waits for the others in any collective once the steps run (gradients,
    the stop-signal vote, a checkpoint save, validation). A rank that died or hangs fails the
    others after this, and the launcher (torchrun, accelerate launch, srun) ends the job with a
    non-zero exit; --resume continues from the last checkpoint. Raise it when one process's
    checkpoint save or validation keeps the others waiting longer."""


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
    (staged per node into --shard-cache; data/storage/s3.py)."""
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
    distributed: OmitArgPrefixes[DistributedConfig] = field(default_factory=DistributedConfig)
    hints: HintConfig = field(default_factory=_scaled_hints)
    """Hint labels (color controls hints, mixed and reference); label_size None scales 10 px at 512."""
    loss: Annotated[LossConfig, arg(name="")] = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        if is_template(self):
            return  # defaults read from a --config file, the required paths still to come
        self.data = data_location(self.data)
        self.out = Path(self.out)
        loss = self.loss
        loss.vgg_weights = Path(loss.vgg_weights) if loss.vgg_weights is not None else None
        self.optim.betas = tuple(float(beta) for beta in self.optim.betas)
        self._check()

    def _check(self) -> None:
        model, optim, output = self.model, self.optim, self.output
        check_choice("color control", model.color_control, COLOR_CONTROLS)
        if optim.mixed_precision is not None:
            check_choice("mixed precision", optim.mixed_precision, ("auto", *MIXED_PRECISION_MODES))
        check_choice("loader backend", self.loader.backend, LOADER_BACKENDS)
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
        if not 0 <= model.color_classes <= MAX_COLOR_CLASSES:
            raise SketchcolorError(f"color_classes must be 0 (RGB) to {MAX_COLOR_CLASSES}, "
                                   f"got {model.color_classes}")  # fmt: skip
        if not (model.width > 0 and optim.lr > 0 and self.loader.num_workers >= 0):
            raise SketchcolorError("width and lr must be positive and num_workers at least 0")
        if not (len(optim.betas) == 2 and all(0 <= beta < 1 for beta in optim.betas)):
            raise SketchcolorError(f"betas must be two numbers in [0, 1), got {optim.betas}")
        if not 0 < model.ema_decay < 1:
            raise SketchcolorError(f"ema_decay must be in (0, 1), got {model.ema_decay}")
        timeouts = self.distributed
        if not (timeouts.init_timeout > 0 and timeouts.collective_timeout > 0):
            raise SketchcolorError(
                f"init_timeout and collective_timeout must be more than 0 seconds, got "
                f"{timeouts.init_timeout} and {timeouts.collective_timeout}"
            )

    @staticmethod
    def from_flat_layout(values: dict) -> dict:
        """An old flat train_config.json's values as the tree (config/files.py reads with it)."""
        return unflatten_legacy(values)

    def to_dict(self) -> dict:
        """A JSON-ready nested dict (paths as strings, tuples as lists), keyed like the fields."""
        return jsonable(dataclasses.asdict(self))

    def save(self, path: Path) -> None:
        """Write the resolved config as JSON (RUN_DIR/train_config.json)."""
        write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_flat(cls, **values) -> TrainConfig:
        """A config from flat option names (`size=256, hint_grid=8, lr=1e-3`), as presets use."""
        try:
            return cls(**build_fields(cls, unflatten_legacy(values)))
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


FLAT_RENAMES = {
    "model": "model.name", "adversarial_weight": "loss.weights.adversarial",
    "pixel_weight": "loss.weights.pixel", "feature_weight": "loss.weights.feature",
    "total_variation_weight": "loss.weights.total_variation",
    "feature_loss": "loss.feature_loss", "vgg_weights": "loss.vgg_weights",
    "loader_backend": "loader.backend",
}  # fmt: skip
"""Keys of train_config.json before the config became a tree whose place is not section.key."""


def unflatten_legacy(values: dict) -> dict:
    """An old flat train_config.json as the tree (hint_grid -> hints.grid, lr -> optim.lr)."""
    places = {}
    for section, kind in (("model", ModelConfig), ("loader", LoaderConfig),
                          ("optim", OptimConfig), ("output", OutputConfig),
                          ("distributed", DistributedConfig)):  # fmt: skip
        places.update({item.name: f"{section}.{item.name}" for item in dataclasses.fields(kind)})
    places.update(
        {f"hint_{item.name}": f"hints.{item.name}" for item in dataclasses.fields(HintConfig)}
    )
    places.update(FLAT_RENAMES)
    tree: dict = {}
    for key, value in values.items():
        *sections, leaf = places.get(key, key).split(".") if not isinstance(value, dict) else [key]
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return tree
