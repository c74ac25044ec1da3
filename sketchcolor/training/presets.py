"""Ready-made training configs: the quickstart's tiny CPU runs and the smallest run tests use.

Usage:
    for config in quickstart_configs("quickstart/shards", "quickstart/runs"):
        train(config)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import TrainConfig

QUICKSTART_MODELS = ("1", "2.1")
QUICKSTART_COLOR_CONTROLS = ("none", "hints")


def tiny_config(data: str | Path, out: str | Path, **overrides) -> TrainConfig:
    """The smallest sensible run: 256 px (the smallest size Models 1 and 2.1 accept; Model 3
    needs 512), 1/16 width, batches of 4, CPU-friendly loader settings, no VGG weights needed."""
    settings = {
        "size": 256,
        "width": 1 / 16,
        "batch_size": 4,
        "max_steps": 20,
        "save_every": 20,
        "sample_every": 20,
        "log_every": 5,
        "keep_checkpoints": 1,
        "feature_loss": False,
        "loader_backend": "torch",
        "num_workers": 0,
        "mixed_precision": "no",
    }
    settings.update(overrides)
    return TrainConfig.from_flat(data=Path(data), out=Path(out), **settings)


def quickstart_configs(
    data: str | Path, runs_root: str | Path, *, steps: int = 20
) -> list[TrainConfig]:
    """Models 1 and 2.1, each with color controls none and hints: 4 tiny CPU runs of `steps` steps.

    Run folders are RUNS_ROOT/model-M-C, as launch/sweep.sh names them.
    """
    return [
        tiny_config(
            data,
            Path(runs_root) / f"model-{model}-{color}",
            model=model,
            color_control=color,
            max_steps=steps,
            save_every=steps,
            sample_every=steps,
        )  # fmt: skip
        for model in QUICKSTART_MODELS
        for color in QUICKSTART_COLOR_CONTROLS
    ]
