"""The quickstart: the whole pipeline on built-in synthetic data, on a CPU in a few minutes.

synth pairs -> shards -> train Models 1 and 2.1 with colour controls none and hints ->
evaluate them (FID only when the Inception weights are present) -> colorize a few
validation sketches into one side-by-side picture. Every step is the library call behind
the matching CLI command, so the quickstart is also a smoke test of the real paths.
Re-running into the same folder reuses what is already there (shards are complete, runs
resume from their last checkpoint).

Usage: run_quickstart(QuickstartConfig(out=Path("quickstart")))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sketchcolor.errors import SketchcolorError


@dataclasses.dataclass(kw_only=True)
class QuickstartConfig:
    """What `sketchcolor quickstart` does."""

    out: Path = Path("quickstart")
    """Folder for everything: synth/, shards/, runs/, evaluation/, colorized.png."""
    count: int = 120
    """Synthetic pairs in all (train + val)."""
    size: int = 256
    """Half size of the synthetic pairs and training size (the smallest Model 1 and 2.1 take)."""
    steps: int = 30
    """Training steps per run."""
    samples: int = 4
    """Validation sketches in colorized.png."""
    seed: int = 0
    """Seed of the synthetic data, training and hint sampling."""

    def __post_init__(self):
        self.out = Path(self.out)
        if self.count < 20:
            raise SketchcolorError(f"--count must be at least 20, got {self.count}")
        if self.steps < 1:
            raise SketchcolorError(f"--steps must be at least 1, got {self.steps}")
        if self.samples < 1:
            raise SketchcolorError(f"--samples must be at least 1, got {self.samples}")


def run_quickstart(config: QuickstartConfig) -> dict:
    """Run every step; returns the evaluation's results.json content."""
    shard_dir = make_shards(config)
    run_dirs = train_runs(config, shard_dir)
    results = evaluate(config, run_dirs, shard_dir)
    picture = colorize_examples(config, run_dirs, shard_dir)
    print(f"quickstart: side-by-side colorizations in {picture}")
    return results


def make_shards(config: QuickstartConfig) -> Path:
    """Synthetic pairs in the Kaggle layout, then shards with palettes."""
    from sketchcolor.data.shards import ShardConfig, prepare_shards
    from sketchcolor.data.synth import SynthConfig, write_synthetic_dataset

    synth_root = config.out / "synth"
    shard_dir = config.out / "shards"
    if not (shard_dir / "manifest.json").is_file():
        synth = SynthConfig(count=config.count, size=config.size, seed=config.seed)
        counts = write_synthetic_dataset(synth_root, synth)
        print(f"quickstart: wrote {config.count} synthetic pairs (train {counts['train']}, "
              f"val {counts['val']}) to {synth_root}/data")  # fmt: skip
    result = prepare_shards(synth_root, shard_dir, ShardConfig(shard_size=64, seed=config.seed))
    print(f"quickstart: shards: {result.summary()}")
    return shard_dir


def train_runs(config: QuickstartConfig, shard_dir: Path) -> list[Path]:
    """The four small CPU runs (Models 1 and 2.1 x colour controls none and hints)."""
    from sketchcolor.training.loop import train
    from sketchcolor.training.presets import quickstart_configs

    run_dirs = []
    for train_config in quickstart_configs(shard_dir, config.out / "runs", steps=config.steps):
        train_config.seed = config.seed
        train_config.resume = True  # a re-run continues (or finds the run finished)
        print(f"quickstart: training model {train_config.model.name} with colour control "
              f"{train_config.model.color_control} ({config.steps} steps)")  # fmt: skip
        run_dirs.append(train(train_config))
    return run_dirs


def evaluate(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> dict:
    """FID (when the Inception weights are there), PSNR, SSIM and L1 on the val split."""
    from sketchcolor.evaluation.evaluate import evaluate_runs
    from sketchcolor.evaluation.report import summary_text

    out_dir = config.out / "evaluation"
    results = evaluate_runs(run_dirs, shard_dir, "val", out_dir=out_dir, seed=config.seed,
                            backend="torch", device="cpu")  # fmt: skip
    print(summary_text(results, out_dir, "quickstart"))
    return results


def colorize_examples(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> Path:
    """sketch | hints | output | truth for a few validation pairs, with the Model 2.1 hints run."""
    from sketchcolor.colorize import colorize_validation_grid

    hints_run = next(run for run in run_dirs if run.name == "model-2.1-hints")
    return colorize_validation_grid(hints_run, shard_dir, config.out / "colorized.png",
                                    count=config.samples, seed=config.seed, device="cpu")  # fmt: skip
