"""Training learns: a tiny run fits a fixed set, hints beat sketch-only on held-out pairs, and an
exported Model 1 scores the same in eval mode as in training's batch-statistics mode.

Every run here goes through the real path (shards -> `train` -> generator.safetensors ->
`evaluate_runs`), on the small-run preset (`SMALL_RUN`, via `small_run_config`), on this
module's own synthetic pairs. Numbers in the docstrings were measured on the shared 2-core
CPU of the development VM: 107 s of CPU for the whole module, single-threaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sketchcolor.data.shards.write import ShardConfig, prepare_shards
from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset
from sketchcolor.evaluation.evaluate import evaluate_runs
from sketchcolor.runs import load_run
from sketchcolor.training.loop import train
from sketchcolor.training.presets import small_run_config

RGB_OUTPUT = {"color_classes": 0, "copy_labels": False}
"""These tests measure what the pixel loss learns, so they keep the paper's RGB output: the
recipe's colour classes learn from a cross-entropy (tests/e2e/test_learning_real.py and
tests/training/test_heads_training.py cover them)."""


@pytest.fixture(scope="module")
def learning_shards(tmp_path_factory) -> Path:
    """72 train + 24 val synthetic pairs at 128 px (trained at 256 px, as Model 1 needs)."""
    root = tmp_path_factory.mktemp("learning")
    config = SynthConfig(count=96, size=128, seed=3, val_fraction=0.25)
    write_synthetic_dataset(root / "synth", config, progress=False)
    prepare_shards(
        root / "synth", root / "shards", ShardConfig(shard_size=32, seed=0), progress=False
    )
    return root / "shards"


def train_l1_per_step(run_dir: Path) -> list[float]:
    """The logged train/loss_g_pixel values (one per step with log_every=1), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = {}
    for events in run_dir.rglob("events.out.tfevents.*"):  # the run's and the hparams' files
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        if "train/loss_g_pixel" in accumulator.Tags()["scalars"]:
            for event in accumulator.Scalars("train/loss_g_pixel"):
                values[event.step] = event.value
    return [values[step] for step in sorted(values)]


def val_l1(run_dirs: list[Path], shards: Path, out: Path) -> dict[str, float]:
    results = evaluate_runs(run_dirs, shards, "val", out_dir=out, seed=0, backend="torch",
                            device="cpu")  # fmt: skip
    return {run["color_control"]: run["l1"] for run in results["runs"]}


def test_a_tiny_run_fits_a_small_fixed_set(learning_shards, tmp_path):
    """Model 1, sketch only, 150 steps over 72 pairs (batches of 8): measured train L1 0.625 at
    step 1 and 0.374 over the last 5 steps (0.60x); 40 steps only reached 0.87x. Asserted: the
    mean of the last 5 steps at most 0.75x step 1's (a single step's L1 varies with its batch)."""
    run = train(small_run_config(learning_shards, tmp_path / "fit", color_control="none",
                                 max_steps=150, log_every=1, **RGB_OUTPUT))  # fmt: skip
    losses = train_l1_per_step(run)
    assert len(losses) == 150
    last = sum(losses[-5:]) / 5
    assert last <= 0.75 * losses[0], f"train L1 {losses[0]:.3f} -> {last:.3f}"


@pytest.fixture(scope="module")
def hints_and_sketch_only_runs(learning_shards, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("runs")
    runs = [
        train(
            small_run_config(
                learning_shards, root / control, color_control=control, max_steps=300, **RGB_OUTPUT
            )
        )  # fmt: skip
        for control in ("none", "hints")
    ]
    return {"runs": runs, "val_l1": val_l1(runs, learning_shards, root / "evaluation")}


def test_hints_beat_sketch_only_on_held_out_pairs(hints_and_sketch_only_runs):
    """300 steps each on 72 pairs, scored on the 24 held-out pairs with evaluate's fixed hints.

    Measured: sketch-only val L1 0.378, hints 0.318 (15.8% lower). Sketch-only cannot know any
    region's colour (the sketch's fills are all white and every colour is a random hue), hints
    give them, so the gap is the point of the colour control. Asserted: hints at least 10%
    lower: a third below the measured gap, so run-to-run noise (a few percent between the
    150-step runs of docs/learning.md) does not break it, while a model that ignores its hints
    (as before issue 10: the same val L1 with and without) fails it.
    """
    scores = hints_and_sketch_only_runs["val_l1"]
    assert scores["hints"] <= 0.9 * scores["none"], scores


def test_exported_model_1_scores_the_same_in_eval_mode_as_in_batch_statistics_mode(
    hints_and_sketch_only_runs, learning_shards
):
    """The export's BatchNorm statistics are recomputed from its own weights, so eval mode (what
    evaluate and colorize run) is not worse than batch-statistics mode on training batches:
    measured 0.2884 vs 0.2931 with the earlier preset (grid labels, transposed convolutions)
    and 0.1704 vs 0.1900 with the recipe (resize-conv, spread strokes), where the statistics
    of 8 batches beat each 8-sample batch's own at the 1x1-4x4 inner levels; asserted: at
    most 3% above, and within 15% either way. Nor is eval mode worse than train mode with
    dropout (asserted: at most 3% above it; the 150-step hints run of docs/learning.md measured
    0.338 in eval mode vs 0.360 in train mode). With the running statistics instead
    (`--batchnorm-batches 0`) issue 10 measured 0.619 vs 0.305 after 1200 steps."""
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.training.inputs import step_inputs

    run = hints_and_sketch_only_runs["runs"][1]
    generator, config = load_run(run, torch.device("cpu"))
    hint_config = config.hint_config
    loader = create_loader(learning_shards, split="train", image_size=256, batch_size=8,
                           backend="torch", training=True, seed=5, num_workers=0)  # fmt: skip
    batches = [
        (step_inputs(batch, color_control="hints", hint_config=hint_config, seed=number)[0])
        for number, batch in zip(range(4), loader.epoch(0), strict=False)
    ]

    def mean_l1(mode: str) -> float:
        """eval: running statistics, no dropout; batch: batch statistics, no dropout; train:
        batch statistics and dropout, as in training (the buffers are never changed)."""
        generator.train(mode == "train")
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.train(mode != "eval")
                module.momentum = 0.0  # a train-mode pass must not move the running statistics
        torch.manual_seed(0)  # the same dropout masks every time
        with torch.no_grad():
            values = [(generator(b.generator_input) - b.color).abs().mean() for b in batches]
        return float(sum(values) / len(values))

    eval_mode, batch_mode, train_mode = mean_l1("eval"), mean_l1("batch"), mean_l1("train")
    assert eval_mode <= 1.03 * batch_mode, (eval_mode, batch_mode)  # stale statistics: 2x
    assert abs(eval_mode - batch_mode) <= 0.15 * batch_mode, (eval_mode, batch_mode)
    # Dropout only adds noise, so eval mode is not worse than train mode (issue 10: 2x worse).
    assert eval_mode <= 1.03 * train_mode, (eval_mode, train_mode)
    assert config.image_size == 256
