"""`sketchcolor train`: train a generator on shards (one GPU, many GPUs, or CPU).

The options are `sketchcolor.config.TrainConfig`; the same command line works under
`python -m sketchcolor.train`, which is what `accelerate launch -m sketchcolor.train` and
`torchrun -m sketchcolor.train` run.

Usage: sketchcolor train --data shards --model 2.1 --color hints --out runs/m21-hints --mixed-precision bf16
"""

from __future__ import annotations

from collections.abc import Sequence

NAME = "train"
HELP = "train a generator on shards (Accelerate: bf16/fp16, multi-GPU, exact resume)"
DESCRIPTION = (
    "Train a sketch colorizer. For several GPUs or nodes run the same flags under "
    "`accelerate launch --config_file launch/X.yaml -m sketchcolor.train` or "
    "`torchrun --nproc_per_node N -m sketchcolor.train`. A run's train_config.json is a "
    "valid --config."
)


def options():
    from sketchcolor.config import TrainConfig

    return TrainConfig


def parse_train_config(argv: Sequence[str], prog: str = "sketchcolor train"):
    """The TrainConfig for a training command line (flags not given keep the defaults)."""
    from sketchcolor.cli.options import parse_options

    return parse_options(options(), argv, prog=prog, description=DESCRIPTION)


def run(config) -> int:
    from sketchcolor.training.checkpoints.preemption import TrainingStopped, report_stop
    from sketchcolor.training.loop import train

    try:
        run_dir = train(config)
    except TrainingStopped as stopped:  # a checkpoint was saved: one line, exit 128 + signal
        return report_stop(stopped, "sketchcolor train")
    print(
        f"run folder: {run_dir} (generator.safetensors, config.json, samples/, logs/, checkpoints/)"
    )
    return 0
