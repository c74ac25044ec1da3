"""Ready-made training configs: the small-run preset (quickstart, learning tests) and the
smallest run the plumbing tests use.

The paper's settings stay TrainConfig's defaults for full runs. A few hundred CPU steps at
1/16 width are another regime, and `SMALL_RUN` differs from the paper in these ways, each
measured in docs/learning.md:
- lr 1e-3 instead of 2e-4, and no adversarial term (c1 = 0): in 150 steps the paper's
  losses at lr 5e-4 (c1 = 1) reached val L1 0.43, these 0.38; without c1 the discriminator is
  not run at all, so a step is also about 40% faster;
- hint labels in the `channels` encoding, on a 16 x 16 node grid, 16 px at 256 px, up to 128
  per sample (the paper: overlay, 40 x 40 nodes, 5 px at 256, up to 40): the paper's labels
  cover under 1% of a picture, too little to be learnt from in minutes;
- BatchNorm statistics from 8 batches at export (32 by default);
- hint labels as brush strokes spread over their regions, and resize-convolution (the paper:
  grid squares, transposed convolutions): docs/learning.md section 6;
- colours as a distribution over 32 colours of the training set, and a gate that copies the
  labels' colours (the paper: RGB through tanh): docs/learning.md section 8.

Usage:
    for config in quickstart_configs("quickstart/shards", "quickstart/runs"):
        train(config)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import TrainConfig

QUICKSTART_MODELS = ("1",)
QUICKSTART_COLOR_CONTROLS = ("hints", "mixed")  # the controls a user meets in the app

CPU_FRIENDLY = {
    "size": 256,  # the smallest size Models 1 and 2.1 accept (Model 3 needs 512)
    "width": 1 / 16,
    "feature_loss": False,  # no VGG weights needed
    "loader_backend": "torch",
    "num_workers": 0,
    "mixed_precision": "no",
    "keep_checkpoints": 1,
}

SMALL_RUN = {
    **CPU_FRIENDLY,
    "batch_size": 8,
    "lr": 1e-3,
    "adversarial_weight": 0.0,
    "hint_encoding": "channels",
    "hint_grid": 16,
    "hint_label_size": 16,
    "hint_max_labels": 128,
    "batchnorm_batches": 8,
    # The recipe's labels: brush strokes inside one colour region of the truth, off the lines,
    # filled over their trapped-ball regions before the network sees them; resize-convolution
    # instead of transposed (no checkerboard). docs/learning.md section 6: the network alone
    # 0.433 colour accuracy at 16 labels (dots, no spread: 0.061), flattened 0.785, the paint
    # bucket 0.701 (OpenMoji val, 132 sketches).
    "upsampling": "resize",
    "hint_placement": "dots",
    "hint_shape": "strokes",
    "hint_spread": "regions",
    # Each pixel's colour as one of the training palettes' 32 commonest, trained by a
    # class-rebalanced cross-entropy, and a gate that copies the spread labels' colours
    # (models/heads.py). docs/learning.md section 8: at 0 / 4 / 16 labels the network alone
    # 0.206 / 0.733 / 0.823 (without them 0.008 / 0.330 / 0.385), flattened 0.202 / 0.746 /
    # 0.837, the bucket 0.008 / 0.665 / 0.723 (OpenMoji val, 91 sketches).
    "color_classes": 32,
    "copy_labels": True,
}
"""The small-run preset: the best CPU recipe measured so far (see the module docstring for how
and why it differs from the paper). launch/configs/small-run.toml holds the same."""

RECIPE_SUMMARY = (
    "strokes spread over their regions, 32 colour classes, a label copy gate, "
    "resize-conv, lr 1e-3, no adversarial term"
)
"""The recipe in words, as the quickstart prints it."""


def tiny_config(data: str | Path, out: str | Path, **overrides) -> TrainConfig:
    """The smallest sensible run for plumbing tests: 256 px (Model 3 needs 512), 1/16 width,
    batches of 4, the paper's losses and hints, CPU-friendly loader settings, no VGG weights."""
    settings = {
        **CPU_FRIENDLY,
        "batch_size": 4,
        "max_steps": 20,
        "save_every": 20,
        "sample_every": 20,
        "log_every": 5,
    }
    settings.update(overrides)
    return TrainConfig.from_flat(data=data, out=Path(out), **settings)


def small_run_config(data: str | Path, out: str | Path, **overrides) -> TrainConfig:
    """A run on the small-run preset; `max_steps` (default 100) also sets the save and sample
    intervals, so a run writes one checkpoint and one sample grid, at its end."""
    steps = overrides.pop("max_steps", 100)
    settings = {**SMALL_RUN, "max_steps": steps, "save_every": steps, "sample_every": steps,
                "log_every": max(1, steps // 10)}  # fmt: skip
    settings.update(overrides)
    return TrainConfig.from_flat(data=data, out=Path(out), **settings)


def quickstart_configs(
    data: str | Path, runs_root: str | Path, *, steps: int = 100
) -> list[TrainConfig]:
    """Model 1 with colour controls hints and mixed: small-run CPU runs of `steps` steps.

    Run folders are RUNS_ROOT/model-M-C, as launch/sweep.sh names them.
    """
    return [
        small_run_config(
            data,
            Path(runs_root) / f"model-{model}-{color}",
            model=model,
            color_control=color,
            max_steps=steps,
        )  # fmt: skip
        for model in QUICKSTART_MODELS
        for color in QUICKSTART_COLOR_CONTROLS
    ]
