"""The quickstart: the whole pipeline on built-in data, on a CPU in a few minutes.

synth pairs (or OpenMoji's real line art, `--data openmoji`) -> shards -> train Model 1 with colour controls none, palette and hints (the
small-run preset, training/presets.py) -> evaluate them (FID only when the Inception weights
are present) and print how much each control lowers val L1 -> colorize a few validation
sketches with the hints run into one side-by-side picture; on OpenMoji also the interactive
benchmark (colour accuracy from 0-64 labels beside a paint bucket, flattened too). Every step is the library call behind
the matching CLI command, so the quickstart is also a smoke test of the real paths.
Re-running into the same folder reuses what is already there (shards are complete, runs
resume from their last checkpoint).

Usage: run_quickstart(QuickstartConfig(out=Path("quickstart")))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from sketchcolor.errors import SketchcolorError

SYNTH_COUNT = 300


@dataclasses.dataclass(kw_only=True)
class QuickstartConfig:
    """What `sketchcolor quickstart` does."""

    out: Path = Path("quickstart")
    """Folder for everything: synth/ (or openmoji/), shards/, runs/, evaluation/, colorized.png."""
    data: Literal["synth", "openmoji"] = "synth"
    """synth: generated shapes; openmoji: OpenMoji's designer-drawn line art, all of it (about
    4,000 pairs; needs `pip install -e '.[openmoji]'`, CC BY-SA 4.0)."""
    count: int | None = None
    """Pairs in all (train + val). synth: 300 when not given (270 + 30; fewer makes the val L1
    noisy); openmoji: every emoji when not given, else N spread over the collection."""
    size: int = 256
    """Half size of the synthetic pairs and training size (the smallest Model 1 and 2.1 take)."""
    steps: int = 1200
    """Training steps per run (batches of 8)."""
    samples: int = 4
    """Validation sketches in colorized.png."""
    seed: int = 0
    """Seed of the synthetic data, training and hint sampling."""

    def __post_init__(self):
        self.out = Path(self.out)
        if self.count is not None and self.count < 20:
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
    print(control_comparison(results))
    picture = colorize_examples(config, run_dirs, shard_dir)
    print(f"quickstart: side-by-side colorizations in {picture}")
    if config.data == "openmoji":
        interactive(config, run_dirs, shard_dir)
    return results


def pairs_folder(config: QuickstartConfig) -> Path:
    """Where the chosen data set's pairs go: OUT/synth or OUT/openmoji."""
    return config.out / config.data


def write_pairs(config: QuickstartConfig) -> None:
    """The chosen data set's pairs, in the Kaggle layout, into `pairs_folder(config)`."""
    root = pairs_folder(config)
    if config.data == "openmoji":
        from sketchcolor.data.sources.openmoji import write_openmoji_pairs

        result = write_openmoji_pairs(root, size=config.size, limit=config.count)
        print(f"quickstart: OpenMoji pairs: {result.summary()}")
        return
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset

    synth = SynthConfig(count=config.count or SYNTH_COUNT, size=config.size, seed=config.seed)
    counts = write_synthetic_dataset(root, synth)
    print(f"quickstart: wrote {synth.count} synthetic pairs (train {counts['train']}, "
          f"val {counts['val']}) to {root}/data")  # fmt: skip


def make_shards(config: QuickstartConfig) -> Path:
    """Pairs in the Kaggle layout, then shards with palettes."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards

    shard_dir = config.out / "shards"
    pairs = pairs_folder(config)
    if not (shard_dir / "manifest.json").is_file():
        write_pairs(config)
    result = prepare_shards(pairs, shard_dir, ShardConfig(shard_size=64, seed=config.seed))
    print(f"quickstart: shards: {result.summary()}")
    return shard_dir


def train_runs(config: QuickstartConfig, shard_dir: Path) -> list[Path]:
    """The small CPU runs (Model 1 x color controls none, palette and hints)."""
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


INTERACTIVE_IMAGES = 132
"""Val pictures the quickstart's interactive benchmark colours (the issue's own measurement)."""


def interactive(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> None:
    """Colour accuracy against the number of labels, each run beside the paint bucket."""
    from sketchcolor.evaluation.interactive import interactive_benchmark
    from sketchcolor.evaluation.interactive_report import accuracy_table, write_interactive

    out_dir = config.out / "interactive"
    benchmark = interactive_benchmark(run_dirs, shard_dir, flatten=True, seed=config.seed,
                                      max_images=INTERACTIVE_IMAGES, backend="torch")  # fmt: skip
    write_interactive(benchmark, out_dir)
    print(accuracy_table(benchmark))
    print(f"quickstart: the interactive benchmark in {out_dir}")


TARGET_GAINS = {"hints": 0.15, "palette": 0.05}
"""How much lower than sketch-only each colour control's val L1 should be (issue 10's targets)."""


def control_comparison(results: dict) -> str:
    """Val L1 per colour control against the same model without one, and whether each control
    lowered it by its target: the quickstart's evidence that the controls carry colour."""
    runs = {(run["model"], run["color_control"]): run["l1"] for run in results["runs"]}
    lines = ["| model | colour control | val L1 | vs none |", "|---|---|---|---|"]
    verdicts = []
    for (model, control), l1 in runs.items():
        baseline = runs.get((model, "none"))
        change = "" if baseline is None or control == "none" else f"{l1 / baseline - 1:+.1%}"
        lines.append(f"| {model} | {control} | {l1:.4f} | {change} |")
        if baseline is not None and control in TARGET_GAINS:
            gain, target = 1 - l1 / baseline, TARGET_GAINS[control]
            verdicts.append(
                f"model {model} {control} {gain:.0%} lower (target {target:.0%}: "
                f"{'met' if gain >= target else 'NOT met'})"
            )
    met = all(verdict.endswith(": met)") for verdict in verdicts)
    summary = "; ".join(verdicts) or "no runs to compare"
    lines.append(
        f"quickstart: colour controls {'lowered' if met else 'did NOT all lower'} val L1 "
        f"as targeted: {summary}"
    )
    return "\n".join(lines)


def colorize_examples(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> Path:
    """sketch | hints | output | truth for a few validation pairs, with the Model 1 hints run."""
    from sketchcolor.evaluation.grid import colorize_validation_grid

    hints_run = next(run for run in run_dirs if run.name == "model-1-hints")
    return colorize_validation_grid(hints_run, shard_dir, config.out / "colorized.png",
                                    count=config.samples, seed=config.seed, device="cpu")  # fmt: skip
