"""MODEL_CARD.md: what it says comes from the run's readers (train_config.json, the step's
progress.json) and the shards' manifest.json, and is right.

Usage: python -m pytest tests/evaluation/test_model_card.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

from sketchcolor.config import TrainConfig
from sketchcolor.data.shards.manifest import shards_sha256
from sketchcolor.evaluation.model_card import model_card
from sketchcolor.evaluation.report import RunResult
from sketchcolor.runs import TRAIN_CONFIG_FILE, TrainingProgress, write_progress


def tiny_run_folder(run: Path, shard_dir: Path) -> Path:
    """A run folder as training leaves it after 6 steps: train_config.json and the step-6
    checkpoint's progress.json (the weights are not read by the card)."""
    config = TrainConfig.from_flat(data=shard_dir, out=run, model="2.1", color_control="hints",
                                   size=256, width=1 / 16, ema=True, batch_size=3, grad_accum=2,
                                   lr=5e-4, seed=11)  # fmt: skip
    run.mkdir()
    config.save(run / TRAIN_CONFIG_FILE)
    checkpoint = run / "checkpoints" / "step-6"
    checkpoint.mkdir(parents=True)
    write_progress(checkpoint, TrainingProgress(step=6, epoch=1, images_seen=36))
    return run


def result(run: Path, step: int, *, checkpoint: bool, l1: float) -> RunResult:
    name = run / "checkpoints" / f"step-{step}" if checkpoint else run
    return RunResult(run=str(name), run_folder=str(run), step=step, checkpoint=checkpoint,
                     parameters=1234, model="2.1", color_control="hints", hint_encoding="overlay",
                     image_size=256, fid=None, psnr=20.5, ssim=0.5, l1=l1, images=8)  # fmt: skip


def test_the_card_names_the_manifest_counts_and_the_runs_settings(tmp_path, shard_dir):
    run = tiny_run_folder(tmp_path / "m21-hints", shard_dir)
    payload = {"shards": str(shard_dir), "split": "val", "seed": 0, "processes": 1,
               "fid_unavailable": "no weights"}  # fmt: skip
    rows = [result(run, 3, checkpoint=True, l1=0.3), result(run, 6, checkpoint=False, l1=0.25)]
    card = model_card(payload, rows, shard_dir)

    manifest = json.loads((shard_dir / "manifest.json").read_text())
    counts = {name: sum(shard["count"] for shard in split["shards"])
              for name, split in manifest["splits"].items()}  # fmt: skip
    assert counts == {"train": 24, "val": 8}  # tests/conftest.py's synthetic pairs
    assert f"- pairs per split: train {counts['train']}, val {counts['val']}\n" in card
    assert f"(manifest sha256 `{shards_sha256(shard_dir)}`)" in card
    assert f"- training data: `{shard_dir}`\n" in card
    assert "- generator: Model 2.1, 1,234 parameters, width 0.0625, 256 x 256 px\n" in card
    assert "- weights: EMA of the generator (`generator.safetensors`)\n" in card
    assert "- steps: 6\n- images seen: 36\n" in card
    assert "- batch size 3 per process x grad accumulation 2, lr 0.0005, seed 11\n" in card
    assert "| L1 (on [-1, 1]) | 0.2500 |" in card and "FID not computed: no weights" in card
    assert "| 3 | 0.3000 |" in card  # the other evaluated step


def test_a_card_without_train_config_or_checkpoint_says_unknown(tmp_path, shard_dir):
    run = tmp_path / "bare"
    run.mkdir()
    payload = {"shards": str(shard_dir), "split": "val", "seed": 0, "processes": 1}
    card = model_card(payload, [result(run, 6, checkpoint=False, l1=0.25)], shard_dir)
    assert "- training data: `unknown`\n" in card
    assert "width ?" in card and "- weights: the generator (" in card
    assert "- images seen: unknown (no checkpoint at this step)\n" in card
    assert "- batch size ? per process x grad accumulation ?, lr ?, seed ?\n" in card
