"""Training configuration: every option of `sketchcolor train` as one keyword-only dataclass.

The CLI (`sketchcolor train`, `python -m sketchcolor.train`) fills it from flags; the quickstart
and the tests build it directly. It is saved as `RUN_DIR/train_config.json`.

Usage: config = TrainConfig(data=Path("shards"), out=Path("runs/m21-hints"), model="2.1", color_control="hints")
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from sketchcolor.errors import SketchcolorError

COLOR_CONTROL_NAMES = ("none", "palette", "hints", "mixed")
MIXED_PRECISION_MODES = ("bf16", "fp16", "no")
LOADER_BACKENDS = ("auto", "dali", "torch")

# Options that must match the checkpoint's run when resuming: changing any of them would make
# the resumed run a different experiment (other weights shapes, other data order or objective).
RESUME_LOCKED_FIELDS = (
    "model", "color_control", "hint_grid", "hint_label_size", "hint_max_labels",
    "hint_zero_fraction", "hint_encoding", "size", "width", "batch_size", "grad_accum", "seed",
    "ema", "feature_loss",
)  # fmt: skip


@dataclass(kw_only=True)
class TrainConfig:
    """Everything one training run needs; checks itself on creation."""

    data: Path
    """Shard folder written by `sketchcolor shards` (holds manifest.json)."""
    out: Path
    """Run folder: checkpoints, logs, samples, generator.safetensors + config.json."""
    model: str = "1"
    """Generator name: 1, 2.1, 2.2 or 3 (see `sketchcolor models`)."""
    color_control: str = "none"
    """Colour control fed to the generator besides the sketch: none, palette, hints or mixed."""

    hint_grid: int = 40
    """Hints: nodes per side of the invisible label grid."""
    hint_label_size: int | None = None
    """Hints: side of one colour label in pixels of the training image (None: the paper's 10 px
    at 512, scaled to --size)."""
    hint_max_labels: int | None = None
    """Hints: most labels per sample during training (None: the conditioning module's default)."""
    hint_zero_fraction: float | None = None
    """Hints: share of samples trained with no label at all (None: the module's default)."""
    hint_encoding: str = "overlay"
    """Hints: "overlay" paints labels on the sketch (paper, 3 channels); "channels" adds RGB + mask."""

    size: int = 512
    """Training resolution (square); a multiple of the generator's size_multiple."""
    width: float = 1.0
    """Channel width multiplier of generator and discriminator (1.0 = the paper's widths)."""
    epochs: int = 100
    """Passes over the training split (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = 16
    """Samples per process per micro-batch; the global batch is batch_size x processes x grad_accum."""
    lr: float = 2e-4
    """Adam learning rate of both generator and discriminator."""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas of both optimizers (pix2pix's 0.5 keeps the GAN stable)."""
    mixed_precision: str | None = None
    """bf16, fp16 or no; None takes `accelerate launch`'s setting, else no."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""

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
    resume: bool = False
    """Continue from the latest valid checkpoint in RUN_DIR (starts fresh when there is none)."""
    seed: int = 0
    """Seed of weights, data order, flips, dropout and hint sampling."""

    verify_shards: bool = True
    """Check every shard against the manifest before training (cached per machine; see `sketchcolor verify`)."""
    loader_backend: str = "auto"
    """Batch loader: dali, torch, or auto (DALI when importable, else the torch loader)."""
    num_workers: int = 2
    """Loader worker threads/processes per rank."""
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

    feature_loss: bool = True
    """Use the VGG16 feature loss (needs pretrained weights, see vgg_weights)."""
    vgg_weights: Path | None = None
    """VGG16 ImageNet weights file; None looks in the torch hub cache."""
    adversarial_weight: float = 1.0
    """c1: weight of the generator's BCE adversarial loss."""
    pixel_weight: float = 100.0
    """c2: weight of the L1 pixel loss."""
    feature_weight: float = 0.01
    """c3: weight of the VGG16 feature loss."""
    total_variation_weight: float = 1e-4
    """c4: weight of the total-variation loss."""

    write_rank_audit: bool = False
    """Write RUN_DIR/audit/rank-R.json per process: the sample keys it trained on and a hash of its weights."""

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        self.out = Path(self.out)
        self.vgg_weights = Path(self.vgg_weights) if self.vgg_weights is not None else None
        self.betas = tuple(float(beta) for beta in self.betas)
        self._check()

    def _check(self) -> None:
        if self.color_control not in COLOR_CONTROL_NAMES:
            raise SketchcolorError(
                f"unknown colour control {self.color_control!r}; choose one of {', '.join(COLOR_CONTROL_NAMES)}"
            )
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION_MODES:
            raise SketchcolorError(
                f"unknown mixed precision {self.mixed_precision!r}; choose one of {', '.join(MIXED_PRECISION_MODES)}"
            )
        if self.loader_backend not in LOADER_BACKENDS:
            raise SketchcolorError(
                f"unknown loader backend {self.loader_backend!r}; choose one of {', '.join(LOADER_BACKENDS)}"
            )
        if self.hint_encoding not in ("overlay", "channels"):
            raise SketchcolorError(
                f"unknown hint encoding {self.hint_encoding!r}; choose overlay or channels"
            )
        positive = {
            "size": self.size, "epochs": self.epochs, "batch_size": self.batch_size,
            "grad_accum": self.grad_accum, "save_every": self.save_every,
            "keep_checkpoints": self.keep_checkpoints, "log_every": self.log_every,
            "sample_count": self.sample_count, "hint_grid": self.hint_grid,
        }  # fmt: skip
        if self.hint_label_size is not None:
            positive["hint_label_size"] = self.hint_label_size
        for name, value in positive.items():
            if value < 1:
                raise SketchcolorError(f"{name} must be at least 1, got {value}")
        if self.max_steps is not None and self.max_steps < 1:
            raise SketchcolorError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.sample_every < 0:
            raise SketchcolorError(f"sample_every must be 0 (off) or more, got {self.sample_every}")
        if not (self.width > 0 and self.lr > 0 and self.num_workers >= 0):
            raise SketchcolorError("width and lr must be positive and num_workers at least 0")
        if not (len(self.betas) == 2 and all(0 <= beta < 1 for beta in self.betas)):
            raise SketchcolorError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not 0 < self.ema_decay < 1:
            raise SketchcolorError(f"ema_decay must be in (0, 1), got {self.ema_decay}")

    def to_dict(self) -> dict:
        """A JSON-ready dict (paths as strings, tuples as lists)."""
        values = dataclasses.asdict(self)
        for name, value in values.items():
            if isinstance(value, Path):
                values[name] = str(value)
            elif isinstance(value, tuple):
                values[name] = list(value)
        return values

    def save(self, path: Path) -> None:
        """Write the resolved config as JSON (RUN_DIR/train_config.json)."""
        from sketchcolor.files import write_text_atomically

        # Atomic: a kill mid-write must not leave an empty file that blocks --resume.
        write_text_atomically(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a config written by `save`; unknown keys (from a newer version) are an error."""
        try:
            values = json.loads(Path(path).read_text())
            return cls(**values)
        except (OSError, ValueError, TypeError) as error:
            raise SketchcolorError(f"{path}: not a readable training config ({error})") from error

    def resume_conflicts(self, previous: TrainConfig) -> list[str]:
        """The locked options that differ from `previous`, as "name: old -> new" lines."""
        return [
            f"{name}: {getattr(previous, name)!r} -> {getattr(self, name)!r}"
            for name in RESUME_LOCKED_FIELDS
            if getattr(previous, name) != getattr(self, name)
        ]
