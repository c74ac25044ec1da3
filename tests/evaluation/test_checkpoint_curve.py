"""The training curve: `evaluate` on intermediate checkpoints, val metrics in TensorBoard, and the
model card evaluate writes into each run folder.

One Model 1 hints run on the small-run preset (BatchNorm, hints: the path where a checkpoint's
statistics must be recomputed as the export's are), 30 steps with a checkpoint every 10 and val
metrics every 10, on the shared synthetic shards (24 train + 8 val pairs, trained at 256 px).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.data.shards.manifest import shards_sha256
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid
from sketchcolor.evaluation.evaluate import evaluate_runs
from sketchcolor.evaluation.model_card import MODEL_CARD_FILE
from sketchcolor.evaluation.report import RESULTS_CURVE
from sketchcolor.runs import load_checkpoint_generator, load_run, run_checkpoints
from sketchcolor.training.loop import train
from sketchcolor.training.presets import small_run_config
from tests.support.runs import logged_scalars, write_standin_weights

STEPS, EVERY = 30, 10


@pytest.fixture(scope="module")
def curve_run(shard_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curve") / "model-1-hints"
    config = small_run_config(shard_dir, out, color_control="hints", max_steps=STEPS,
                              save_every=EVERY, keep_checkpoints=5, eval_every=EVERY,
                              eval_images=64, batch_size=4, log_every=EVERY)  # fmt: skip
    return train(config)


def test_the_final_checkpoint_loads_as_the_export(curve_run, shard_dir):
    """Accelerate's model.safetensors plus the export's BatchNorm recompute (same training
    loader settings, same seeds) rebuild generator.safetensors exactly."""
    checkpoints = run_checkpoints(curve_run)
    assert [path.name for path in checkpoints] == ["step-10", "step-20", "step-30"]
    device = torch.device("cpu")
    from_checkpoint, config = load_checkpoint_generator(
        checkpoints[-1], device, shard_dir=shard_dir, backend="torch"
    )
    exported, _ = load_run(curve_run, device)
    assert config.step == 30 and config.images_seen == 30 * 4
    assert not from_checkpoint.training
    state, expected = from_checkpoint.state_dict(), exported.state_dict()
    assert state.keys() == expected.keys()
    # Running statistics included: the recompute is deterministic given the weights.
    for name, value in expected.items():
        assert torch.allclose(state[name].float(), value.float(), atol=1e-6), name
    # An earlier step has other weights.
    earlier, _ = load_checkpoint_generator(checkpoints[0], device, shard_dir=shard_dir)
    first = next(name for name, _ in exported.named_parameters())  # not the codebook buffer
    assert not torch.equal(earlier.state_dict()[first], expected[first])


def test_evaluate_all_checkpoints_gives_one_row_per_step_and_a_curve(
    curve_run, shard_dir, tmp_path
):
    weights = write_standin_weights(tmp_path / fid.WEIGHTS_FILE_NAME)
    out = tmp_path / "curve"
    results = evaluate_runs([curve_run], shard_dir, out_dir=out, seed=0, backend="torch",
                            device="cpu", batch_size=8, inception_weights=weights,
                            cache_dir=tmp_path / "cache", all_checkpoints=True)  # fmt: skip
    rows = results["runs"]
    assert [row["step"] for row in rows] == [10, 20, 30]
    assert all(row["checkpoint"] and row["images"] == 8 for row in rows)
    assert all(row["run_folder"] == str(curve_run) for row in rows)
    assert all(row["fid"] is not None and row["fid"] > 0 for row in rows)
    # Training at lr 1e-3 lowers the val L1 from step 10 to step 30 (measured 0.57 -> 0.47).
    assert rows[-1]["l1"] < rows[0]["l1"], [row["l1"] for row in rows]

    # The last checkpoint scores what the export scores (the same weights and statistics).
    export = evaluate_runs([curve_run], shard_dir, out_dir=tmp_path / "export", seed=0,
                           backend="torch", device="cpu", batch_size=8)["runs"][0]  # fmt: skip
    assert export["step"] == 30 and not export["checkpoint"]
    assert export["l1"] == pytest.approx(rows[-1]["l1"], abs=1e-5)

    table = (out / "results.md").read_text()
    assert "## By step" in table and "| model-1-hints | 20 | 8 |" in table
    assert "| model-1-hints@10 | 1 |" in table  # every run on its own row, named by step
    with Image.open(out / RESULTS_CURVE) as picture:
        assert picture.size == (1500, 400)  # three panels: L1, PSNR and FID


def test_a_single_checkpoint_folder_is_evaluated_and_a_bad_one_refused(
    curve_run, shard_dir, tmp_path
):
    results = evaluate_runs([curve_run / "checkpoints" / "step-20"], shard_dir,
                            out_dir=tmp_path / "one", backend="torch", device="cpu")  # fmt: skip
    assert [row["step"] for row in results["runs"]] == [20]
    assert not (tmp_path / "one" / RESULTS_CURVE).exists()  # one step: no curve
    with pytest.raises(SketchcolorError, match="step-99: no such checkpoint folder"):
        evaluate_runs([curve_run / "checkpoints" / "step-99"], shard_dir, out_dir=tmp_path / "x")
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(SketchcolorError, match="no complete checkpoints"):
        evaluate_runs([empty], shard_dir, out_dir=tmp_path / "y", all_checkpoints=True)


def test_the_cli_takes_all_checkpoints(curve_run, shard_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["evaluate", str(curve_run), "--all-checkpoints", "--data", str(shard_dir),
                 "--out", str(out), "--backend", "torch"]) == 0  # fmt: skip
    steps = [row["step"] for row in json.loads((out / "results.json").read_text())["runs"]]
    assert steps == [10, 20, 30]
    assert "## By step" in capsys.readouterr().out


def test_training_logs_val_metrics_every_eval_every_steps(curve_run, shard_dir, tmp_path):
    """val/l1 at steps 10, 20, 30 and, at the end, the number evaluate gives the export on the
    same 8 val pairs with the same hint seed."""
    l1 = logged_scalars(curve_run, "val/l1")
    psnr = logged_scalars(curve_run, "val/psnr")
    assert sorted(l1) == [10, 20, 30] and sorted(psnr) == [10, 20, 30]
    export = evaluate_runs([curve_run], shard_dir, out_dir=tmp_path / "e", seed=0,
                           backend="torch", device="cpu")["runs"][0]  # fmt: skip
    assert l1[30] == pytest.approx(export["l1"], abs=1e-4)
    assert psnr[30] == pytest.approx(export["psnr"], abs=1e-3)
    assert l1[30] < l1[10]


def test_the_model_card_describes_the_run(curve_run, shard_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no FID weights
    evaluate_runs([curve_run], shard_dir, out_dir=tmp_path / "c", seed=3, backend="torch",
                  device="cpu", all_checkpoints=True)  # fmt: skip
    results = evaluate_runs([curve_run], shard_dir, out_dir=tmp_path / "d", seed=3,
                            backend="torch", device="cpu")  # fmt: skip
    card = (curve_run / MODEL_CARD_FILE).read_text()
    row = results["runs"][0]
    assert card.startswith("# Model card: model-1-hints\n")
    assert f"manifest sha256 `{shards_sha256(shard_dir)}`" in card
    assert len(shards_sha256(shard_dir)) == 64
    assert "- pairs per split: train 24, val 8" in card or "val 8, train 24" in card
    assert "Model 1, color control hints (channels encoding)" in card
    assert f"{row['parameters']:,} parameters" in card and row["parameters"] > 1000
    assert "256 x 256 px" in card and "width 0.0625" in card
    assert "- steps: 30\n- images seen: 120\n" in card
    assert "Measured on split `val`: 8 images, hint seed 3, 1 process(es)." in card
    assert f"| L1 (on [-1, 1]) | {row['l1']:.4f} |" in card
    assert f"| PSNR (dB) | {row['psnr']:.2f} |" in card
    assert "| FID (dataset-level) | n/a |" in card and "FID not computed:" in card
    assert "## Known limits" in card and "not comparable in scale" in card


def test_an_ema_checkpoint_loads_its_averaged_weights(shard_dir, tmp_path):
    """With --ema the export is the EMA copy (Accelerate's custom_checkpoint_0.pkl), not G."""
    from sketchcolor.training.presets import tiny_config

    run = train(tiny_config(shard_dir, tmp_path / "ema", model="2.1", ema=True, ema_decay=0.5,
                            max_steps=2, save_every=2, sample_every=0))  # fmt: skip
    device = torch.device("cpu")
    from_checkpoint, config = load_checkpoint_generator(
        run / "checkpoints" / "step-2", device, shard_dir=shard_dir
    )
    exported, _ = load_run(run, device)
    assert config.ema is True
    state = exported.state_dict()
    assert state  # a loop over nothing would pass
    for name, value in state.items():
        assert torch.equal(from_checkpoint.state_dict()[name], value), name
    # The plain generator's weights differ from the average.
    import safetensors.torch

    plain = safetensors.torch.load_file(str(run / "checkpoints" / "step-2" / "model.safetensors"))
    assert any(not torch.equal(plain[name], value) for name, value in exported.state_dict().items())


def test_the_paper_recipe_prints_its_commands_and_gpu_hours():
    """DRY_RUN: the 16 training commands (the paper's 9 + Model 3 + mixed) and the estimate."""
    import os
    import subprocess

    script = Path(__file__).resolve().parents[2] / "launch" / "recipes" / "paper.sh"
    result = subprocess.run(
        [str(script), "kaggle", "work"], capture_output=True, text=True, check=True,
        env={**os.environ, "DRY_RUN": "1"}, cwd=script.parents[2],
    )  # fmt: skip
    lines = result.stdout.splitlines()
    train_lines = [line for line in lines if "sketchcolor.train" in line]
    assert len(train_lines) == 16
    assert all("--config launch/configs/paper.yaml" in line and "--eval-every 5000" in line
               for line in train_lines)  # fmt: skip
    assert any("--model 3 --color mixed" in line for line in train_lines)
    assert "+ sketchcolor shards kaggle work/shards --size 512 --workers 8" in lines
    # 3 x (27.2 + 3 x 36.9) + 3 x 30.9 = 506 GFLOPs x 1,422,400 images at 346 TFLOP/s.
    assert "| 1 | 506 | 0.58 |" in lines and "| 2.1 | 754 | 0.86 |" in lines
    assert "| 3 | 761 | 0.87 |" in lines
    # Every evaluation writes the run's MODEL_CARD.md: the exports' (all val images) go last.
    evaluations = [line for line in lines if line.startswith("+ sketchcolor evaluate")]
    assert ["--all-checkpoints" in line for line in evaluations] == [True, False], evaluations
