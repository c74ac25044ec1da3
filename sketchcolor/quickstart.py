"""The quickstart: the product at its best on real line art, on a CPU, in minutes.

OpenMoji's designer line art (or synthetic shapes, `--data synth`) -> shards -> Model 1 trained
with the recipe (training/presets.py SMALL_RUN = launch/configs/small-run.toml: brush-stroke
labels spread over their regions, resize-convolution) under the controls a user meets in the
app: hint labels, and labels with a palette (mixed) -> val L1 per control -> the interactive
benchmark (colour accuracy at 0/4/16/64 labels for the network, flattened, and a paint bucket
given the same labels) -> quickstart.png: sketch with its labels | network | flat colours |
paint bucket | truth. Every step is the library call behind the matching CLI command.
Re-running into the same folder reuses what is there (shards are complete, runs resume).

Usage: run_quickstart(QuickstartConfig(out=Path("quickstart")))
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config.quickstart import QuickstartConfig

SYNTH_COUNT = 300
OPENMOJI_COUNT = 1000
BENCHMARK_COUNTS = (0, 4, 16, 64)
PICTURE = "quickstart.png"
NETWORK_RUN = "model-1-hints"  # the run quickstart.png shows


def run_quickstart(config: QuickstartConfig) -> dict:
    """Run every step; returns the evaluation's results.json content."""
    shard_dir = make_shards(config)
    run_dirs = train_runs(config, shard_dir)
    results = evaluate(config, run_dirs, shard_dir)
    if config.data == "openmoji":
        picture = interactive(config, run_dirs, shard_dir)
    else:
        picture = colorize_examples(config, run_dirs, shard_dir)
    print(f"quickstart: {picture_caption(config)} in {picture}")
    print(next_steps(config, run_dirs))
    return results


def pairs_folder(config: QuickstartConfig) -> Path:
    """Where the chosen data set's pairs go: OUT/openmoji or OUT/synth."""
    return config.out / config.data


def write_pairs(config: QuickstartConfig) -> None:
    """The chosen data set's pairs, in the Kaggle layout, into `pairs_folder(config)`."""
    root = pairs_folder(config)
    if config.data == "openmoji":
        from sketchcolor.data.sources.openmoji import write_openmoji_pairs

        count = config.count or OPENMOJI_COUNT
        result = write_openmoji_pairs(root, size=config.size, limit=count)
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
    """Model 1 on the recipe, once per quickstart colour control."""
    from sketchcolor.training.loop import train
    from sketchcolor.training.presets import RECIPE_SUMMARY, quickstart_configs

    run_dirs = []
    for train_config in quickstart_configs(shard_dir, config.out / "runs", steps=config.steps):
        train_config.seed = config.seed
        train_config.resume = True  # a re-run continues (or finds the run finished)
        print(f"quickstart: training model {train_config.model.name} with colour control "
              f"{train_config.model.color_control} ({config.steps} steps; {RECIPE_SUMMARY})")  # fmt: skip
        run_dirs.append(train(train_config))
    return run_dirs


def evaluate(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> dict:
    """PSNR, SSIM, L1 (and FID when the Inception weights are there) on the val split; prints
    the val L1 per control and, once, what FID needs."""
    from sketchcolor.evaluation.evaluate import evaluate_runs

    out_dir = config.out / "evaluation"
    results = evaluate_runs(run_dirs, shard_dir, "val", out_dir=out_dir, seed=config.seed,
                            backend="torch", device="cpu")  # fmt: skip
    print(l1_line(results))
    if results["fid_unavailable"]:
        print(f"quickstart: no FID: {results['fid_unavailable']}")
    print(f"quickstart: PSNR, SSIM and L1 per run in {out_dir}")
    return results


def l1_line(results: dict) -> str:
    """`val L1 (evaluate's seeded labels): hints 0.1012, mixed 0.0934` from results.json."""
    values = ", ".join(f"{run['color_control']} {run['l1']:.4f}" for run in results["runs"])
    return f"quickstart: val L1 per colour control (evaluate's seeded labels): {values}"


def interactive(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> Path:
    """Colour accuracy against the number of labels, each run beside the paint bucket, and
    quickstart.png; returns the picture's path."""
    from sketchcolor.evaluation.interactive import interactive_benchmark
    from sketchcolor.evaluation.interactive_report import (
        accuracy_table,
        write_front_picture,
        write_interactive,
    )

    out_dir = config.out / "interactive"
    benchmark = interactive_benchmark(
        run_dirs, shard_dir, flatten=True, seed=config.seed, hint_counts=BENCHMARK_COUNTS,
        max_images=config.benchmark_images, backend="torch", examples=config.samples,
        hint_shape="strokes",
    )  # fmt: skip
    write_interactive(benchmark, out_dir)
    print(accuracy_table(benchmark))
    print(f"quickstart: the interactive benchmark (curves, examples, every metric) in {out_dir}")
    picture = config.out / PICTURE
    run = network_run(run_dirs)
    write_front_picture(benchmark, run.name, picture)
    return picture


def colorize_examples(config: QuickstartConfig, run_dirs: list[Path], shard_dir: Path) -> Path:
    """sketch | labels | output | truth for a few val pairs with the hints run (synth data:
    no interactive benchmark, whose labels follow real line art's regions)."""
    from sketchcolor.evaluation.grid import colorize_validation_grid

    run = network_run(run_dirs)
    return colorize_validation_grid(run, shard_dir, config.out / PICTURE, count=config.samples,
                                    seed=config.seed, device="cpu")  # fmt: skip


def network_run(run_dirs: list[Path]) -> Path:
    """The run quickstart.png and the next commands show: the hints run, else the first."""
    return next((run for run in run_dirs if run.name == NETWORK_RUN), run_dirs[0])


def picture_caption(config: QuickstartConfig) -> str:
    if config.data == "openmoji":
        return "sketch with its labels | network | flat colours | paint bucket | truth"
    return "sketch | labels | network | truth"


def next_steps(config: QuickstartConfig, run_dirs: list[Path]) -> str:
    """The two commands a user runs next: the app on these runs, and their own sketch."""
    run = network_run(run_dirs)
    return "\n".join([
        "quickstart: next, open the app on these runs, then colour your own sketch:",
        f"  sketchcolor serve {config.out / 'runs'}",
        f"  sketchcolor colorize path/to/sketch.png --run {run} -o colored.png --flatten",
    ])  # fmt: skip
