"""`sketchcolor train`: train a generator on shards (one GPU, many GPUs, or CPU).

The flags are defined once here and shared with `python -m sketchcolor.train`, which is what
`accelerate launch -m sketchcolor.train` and `torchrun -m sketchcolor.train` run. Defaults come
from `sketchcolor.config.TrainConfig`, so they are written in one place.

Usage: sketchcolor train --data shards --model 2.1 --color hints --out runs/m21-hints --mixed-precision bf16
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from sketchcolor.config import (
    COLOR_CONTROL_NAMES,
    LOADER_BACKENDS,
    MIXED_PRECISION_MODES,
    TrainConfig,
)

_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


def _default(name: str):
    field = _FIELDS[name]
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def _option(parser, flag: str, name: str, help: str, **kwargs) -> None:
    """One flag filling TrainConfig.`name`; the default is shown but left to the dataclass."""
    shown = _default(name)
    parser.add_argument(
        flag, dest=name, default=argparse.SUPPRESS, help=f"{help} (default: {shown})", **kwargs
    )


def _switch(parser, flag: str, name: str, help: str, value: bool = True) -> None:
    parser.add_argument(
        flag, dest=name, action="store_const", const=value, default=argparse.SUPPRESS, help=help
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every training flag; shared by `sketchcolor train` and `python -m sketchcolor.train`."""
    parser.add_argument(
        "--data", type=Path, required=True, help="shard folder (from `sketchcolor shards`)"
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder to write (or resume)")
    _option(parser, "--model", "model", "generator: 1, 2.1, 2.2 or 3")
    _option(parser, "--color", "color_control", "colour control", choices=COLOR_CONTROL_NAMES)
    _option(parser, "--size", "size", "training resolution in pixels", type=int)
    _option(
        parser,
        "--width",
        "width",
        "channel width multiplier (e.g. 0.0625 for tiny tests)",
        type=float,
    )
    _option(parser, "--epochs", "epochs", "passes over the training split", type=int)
    _option(
        parser,
        "--max-steps",
        "max_steps",
        "stop after this many optimizer steps (overrides --epochs)",
        type=int,
    )
    _option(parser, "--batch-size", "batch_size", "pairs per process per micro-batch", type=int)
    _option(parser, "--lr", "lr", "Adam learning rate (G and D)", type=float)
    _option(
        parser, "--betas", "betas", "Adam betas", type=float, nargs=2, metavar=("BETA1", "BETA2")
    )
    _option(
        parser, "--mixed-precision", "mixed_precision", "autocast precision; unset: accelerate launch's",
        choices=MIXED_PRECISION_MODES,
    )  # fmt: skip
    _option(parser, "--grad-accum", "grad_accum", "micro-batches per optimizer step", type=int)
    _option(parser, "--save-every", "save_every", "checkpoint every N steps", type=int)
    _option(parser, "--keep-checkpoints", "keep_checkpoints", "checkpoints kept", type=int)
    _option(
        parser, "--sample-every", "sample_every", "sample grid every N steps (0: off)", type=int
    )
    _option(parser, "--sample-count", "sample_count", "pairs in a sample grid", type=int)
    _option(parser, "--log-every", "log_every", "TensorBoard scalars every N steps", type=int)
    _switch(
        parser,
        "--resume",
        "resume",
        "continue from the latest checkpoint in --out (fresh start if none)",
    )
    _option(parser, "--seed", "seed", "random seed", type=int)
    _switch(
        parser, "--no-verify", "verify_shards", "do not check the shards against the manifest",
        value=False,
    )  # fmt: skip
    _option(parser, "--loader", "loader_backend", "batch loader", choices=LOADER_BACKENDS)
    _option(parser, "--num-workers", "num_workers", "loader workers per process", type=int)
    _switch(parser, "--ema", "ema", "keep an EMA of the generator and export it")
    _option(parser, "--ema-decay", "ema_decay", "EMA decay per step", type=float)
    _switch(parser, "--compile", "compile", "torch.compile the models")
    _switch(parser, "--channels-last", "channels_last", "channels-last memory format")
    _switch(parser, "--sync-batchnorm", "sync_batchnorm", "SyncBatchNorm under multi-GPU DDP")
    _switch(
        parser, "--no-feature-loss", "feature_loss", "turn the VGG16 feature loss off", value=False
    )
    _option(
        parser,
        "--vgg-weights",
        "vgg_weights",
        "VGG16 weights file (default: torch hub cache)",
        type=Path,
    )
    _option(parser, "--adversarial-weight", "adversarial_weight", "c1, BCE weight", type=float)
    _option(parser, "--pixel-weight", "pixel_weight", "c2, L1 weight", type=float)
    _option(parser, "--feature-weight", "feature_weight", "c3, VGG16 feature weight", type=float)
    _option(
        parser, "--tv-weight", "total_variation_weight", "c4, total-variation weight", type=float
    )
    hints = parser.add_argument_group("hint labels (colour controls hints and mixed)")
    _option(hints, "--hint-grid", "hint_grid", "grid nodes per side", type=int)
    _option(hints, "--hint-label-size", "hint_label_size", "label side in pixels", type=int)
    _option(hints, "--hint-max-labels", "hint_max_labels", "most labels per sample", type=int)
    _option(
        hints,
        "--hint-zero-fraction",
        "hint_zero_fraction",
        "share of samples without labels",
        type=float,
    )
    _option(
        hints,
        "--hint-encoding",
        "hint_encoding",
        "overlay or channels",
        choices=("overlay", "channels"),
    )
    _switch(
        parser,
        "--audit-ranks",
        "write_rank_audit",
        "write the keys and weight hashes of each rank to RUN/audit/",
    )


def config_from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig for parsed flags (flags not given keep the dataclass defaults)."""
    values = {name: value for name, value in vars(args).items() if name in _FIELDS}
    return TrainConfig(**values)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a generator on shards (Accelerate: bf16/fp16, multi-GPU, exact resume)",
        description="Train a sketch colorizer. For several GPUs or nodes run the same flags under "
        "`accelerate launch --config_file launch/X.yaml -m sketchcolor.train` or "
        "`torchrun --nproc_per_node N -m sketchcolor.train`.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.train import train
    from sketchcolor.training.preemption import TrainingStopped, report_stop

    try:
        run_dir = train(config_from_arguments(args))
    except TrainingStopped as stopped:
        return report_stop(stopped, "sketchcolor train")
    print(
        f"run folder: {run_dir} (generator.safetensors, config.json, samples/, logs/, checkpoints/)"
    )
    return 0
