"""Evaluation end to end on tiny trained runs: metrics, FID with a stand-in network, the table.

The runs train for a few real steps (Model 1 and 2.1 at 256 px, width 1/16) on the shared
synthetic shards (8 val pairs); the loader is the real DALI CPU pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sketchcolor.cli import main
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid
from sketchcolor.evaluation.evaluate import evaluate_runs, plan_reference
from sketchcolor.evaluation.report import PAPER_FID, RunResult, results_markdown
from sketchcolor.runs import read_run_config, sample_fixed_hints
from sketchcolor.util import metrics
from tests.support.runs import SIZE, train_tiny_run, write_standin_weights


@pytest.fixture(scope="module")
def runs(shard_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    plan = {"m1-none": ("1", "none"), "m21-none": ("2.1", "none"), "m1-hints": ("1", "hints")}
    return {name: train_tiny_run(shard_dir, root / name, *spec) for name, spec in plan.items()}


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
    """An empty torch hub cache: the FID weights are missing."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def val_batches(shard_dir, batch_size=8):
    from sketchcolor.data.loading.loader import create_loader

    loader = create_loader(shard_dir, split="val", image_size=SIZE, batch_size=batch_size,
                           device="cpu", backend="dali", training=False)  # fmt: skip
    return list(loader.epoch(0))


def test_scores_of_a_grey_generator_are_the_hand_computed_ones(shard_dir, tmp_path, no_inception):
    """All-zero weights make Model 1 output exactly 0 (tanh(0)), so every score is known."""
    from sketchcolor.models import create_generator, save_generator

    generator = create_generator("1", in_channels=3, width=1 / 16)
    for parameter in generator.parameters():
        torch.nn.init.zeros_(parameter)
    save_generator(generator, tmp_path / "grey", metadata={"color_control": "none",
                                                           "image_size": SIZE})  # fmt: skip
    out = tmp_path / "evaluation"
    results = evaluate_runs([tmp_path / "grey"], shard_dir, "val", out_dir=out, batch_size=3,
                            backend="dali", device="cpu")  # fmt: skip

    real = torch.cat([batch["color"] for batch in val_batches(shard_dir)])  # (8, 3, H, W)
    grey = torch.zeros_like(real)
    (run,) = results["runs"]
    assert run["images"] == 8
    assert run["fid"] is None
    assert run["l1"] == pytest.approx(real.abs().mean().item(), rel=1e-5)
    assert run["psnr"] == pytest.approx(metrics.psnr(grey, real).mean().item(), rel=1e-5)
    assert run["ssim"] == pytest.approx(metrics.ssim(grey, real).mean().item(), rel=1e-4)
    assert "pt_inception-2015-12-05-6726825d.pth" in results["fid_unavailable"]

    written = json.loads((out / "results.json").read_text())
    assert written["runs"][0]["l1"] == run["l1"]
    assert "FID unavailable" in (out / "results.md").read_text()
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fid_end_to_end_with_a_standin_network(runs, shard_dir, tmp_path):
    weights = write_standin_weights(tmp_path / fid.WEIGHTS_FILE_NAME)
    cache = tmp_path / "cache"
    out = tmp_path / "evaluation"
    results = evaluate_runs([runs["m1-none"], runs["m21-none"]], shard_dir, out_dir=out,
                            batch_size=4, inception_weights=weights, cache_dir=cache,
                            backend="dali", device="cpu")  # fmt: skip
    assert results["fid_unavailable"] is None
    fids = {run["model"]: run["fid"] for run in results["runs"]}
    assert all(value is not None and value > 0 for value in fids.values())

    # The cached real statistics are those of the val colour halves, computed here directly.
    inception = fid.load_inception(weights)
    real = torch.cat([batch["color"] for batch in val_batches(shard_dir)])
    features = fid.inception_features(inception, fid.to_inception_input(real))
    (cached,) = cache.iterdir()
    mu, sigma = fid.load_statistics_file(cached)
    np.testing.assert_allclose(mu, features.mean(0), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-3, atol=1e-8)
    configs = [read_run_config(runs[name]) for name in ("m1-none",)]
    context = fid.statistics_context("dali", "cpu")
    planned = plan_reference(configs, shard_dir, "val", cache, weights, context=context)
    assert planned[SIZE]["cached"]
    np.testing.assert_array_equal(planned[SIZE]["stats"][0], mu)  # the next call reads the cache

    table = (out / "results.md").read_text()
    ratio = fids["1"] / fids["2.1"]
    assert f"| FID1/FID2.1 | {ratio:.3f} (paper 1.146) |" in table
    assert f"| 2.1 | {fids['2.1']:.2f} |" in table


def test_hints_are_the_same_for_any_batching(runs, shard_dir, tmp_path, no_inception):
    """Hints come from (seed, sample key), so batch size (and process count) cannot change them."""
    from sketchcolor.config import HintConfig

    (batch,) = val_batches(shard_dir)
    config = HintConfig.for_size(SIZE, zero_fraction=0.0)
    whole = sample_fixed_hints(batch["color"], batch["key"], config, seed=0)
    halves = [sample_fixed_hints(batch["color"][i : i + 4], batch["key"][i : i + 4], config, 0)
              for i in (0, 4)]  # fmt: skip
    assert torch.equal(whole.mask, torch.cat([half.mask for half in halves]))
    assert torch.equal(whole.rgb, torch.cat([half.rgb for half in halves]))
    other_seed = sample_fixed_hints(batch["color"], batch["key"], config, seed=1)
    assert not torch.equal(whole.mask, other_seed.mask)

    scores = [
        evaluate_runs(
            [runs["m1-hints"]],
            shard_dir,
            out_dir=tmp_path / str(size),
            batch_size=size,
            backend="dali",
            device="cpu",
        )["runs"][0]  # fmt: skip
        for size in (3, 8)
    ]
    for key in ("psnr", "ssim", "l1"):
        assert scores[0][key] == pytest.approx(scores[1][key], rel=1e-5)
    assert scores[0]["hint_encoding"] == "overlay"


def test_max_images_takes_the_first_samples(runs, shard_dir, tmp_path, no_inception):
    results = evaluate_runs([runs["m1-none"]], shard_dir, out_dir=tmp_path, batch_size=3,
                            max_images=5, backend="dali", device="cpu")  # fmt: skip
    assert results["runs"][0]["images"] == 5


def test_the_table_reproduces_the_papers_ratios():
    results = [
        RunResult(
            run=f"runs/{model}-{control}",
            model=model,
            color_control=control,
            hint_encoding="overlay" if control == "hints" else None,
            image_size=512,
            fid=value,
            psnr=20.0,
            ssim=0.5,
            l1=0.1,
            images=3545,
        )  # fmt: skip
        for model, row in PAPER_FID.items()
        for control, value in row.items()
    ]
    table = results_markdown(results, None)
    assert "| model | none | palette | hints |" in table
    assert "| 2.2 | 96.41 | 84.28 | 79.86 |" in table
    # The paper's own "growth of quality" rows, recomputed from its FIDs.
    assert (
        "| FID1/FID2.1 | 1.146 (paper 1.146) | 1.161 (paper 1.161) | 1.188 (paper 1.188) |" in table
    )
    assert (
        "| FID1/FID2.2 | 1.168 (paper 1.168) | 1.229 (paper 1.229) | 1.241 (paper 1.241) |" in table
    )
    assert "| FID2.1/FID2.2 | 1.020 (paper 1.020) |" in table
    # One model: the ratio section says why it is empty instead of showing a bare header.
    alone = results_markdown([r for r in results if r.model == "2.1"], None)
    assert "Ratios compare two models; only model 2.1 was evaluated." in alone
    assert "| ratio |" not in alone


def test_cli_writes_the_outputs_and_errors_are_one_line(runs, shard_dir, tmp_path, capsys,
                                                         no_inception):  # fmt: skip
    out = tmp_path / "evaluation"
    assert main(["evaluate", str(runs["m1-none"]), "--data", str(shard_dir), "--out", str(out),
                 "--backend", "dali", "--batch-size", "4"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "FID not computed" in printed and "| 1 |" in printed
    assert {path.name for path in out.iterdir()} == {"results.json", "results.md", "results.png"}

    cases = [
        ([str(tmp_path / "missing-run")], "missing-run: no such run folder"),
        ([str(runs["m1-none"]), "--split", "nope"], "nope"),
        ([str(runs["m1-none"]), "--max-images", "0"], "max_images must be at least 1, got 0"),
        ([str(runs["m1-none"]), "--batch-size", "0"], "batch_size must be at least 1, got 0"),
        ([str(runs["m1-none"]), "--out", str(out / "results.md" / "x")],
         "cannot create the output folder"),
    ]  # fmt: skip
    for extra, expected in cases:
        assert main(["evaluate", "--data", str(shard_dir), "--out", str(out), *extra]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and expected in error
    assert main(["evaluate", str(runs["m1-none"]), "--data", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, shard_dir):
    (tmp_path / "config.json").write_text('{"model": "1"}')
    with pytest.raises(SketchcolorError, match="has no 'color_control'"):
        evaluate_runs([tmp_path], shard_dir, out_dir=tmp_path / "out")


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one(runs, shard_dir, tmp_path, no_inception):
    single = evaluate_runs([runs["m1-hints"], runs["m1-none"]], shard_dir, out_dir=tmp_path / "one",
                           batch_size=3, backend="dali", device="cpu")  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
                   "TORCH_HOME": str(tmp_path / "no-weights")}  # fmt: skip
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sketchcolor", "evaluate", str(runs["m1-hints"]), str(runs["m1-none"]),
        "--data", str(shard_dir), "--out", str(tmp_path / "two"), "--batch-size", "3",
        "--backend", "dali",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    double = json.loads((tmp_path / "two" / "results.json").read_text())
    assert (single["processes"], double["processes"]) == (1, 2)
    for one, two in zip(single["runs"], double["runs"], strict=True):
        assert two["images"] == one["images"] == 8
        for key in ("psnr", "ssim", "l1"):
            assert two[key] == pytest.approx(one[key], rel=1e-5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_two_processes_gather_features_for_the_fid_of_one(runs, shard_dir, tmp_path):
    weights = write_standin_weights(tmp_path / fid.WEIGHTS_FILE_NAME)
    single = evaluate_runs([runs["m1-none"]], shard_dir, out_dir=tmp_path / "one", batch_size=3,
                           inception_weights=weights, cache_dir=tmp_path / "cache-one",
                           backend="dali", device="cpu")  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sketchcolor", "evaluate", str(runs["m1-none"]), "--data", str(shard_dir),
        "--out", str(tmp_path / "two"), "--batch-size", "3", "--backend", "dali",
        "--inception-weights", str(weights), "--cache-dir", str(tmp_path / "cache-two"),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    double = json.loads((tmp_path / "two" / "results.json").read_text())
    assert double["processes"] == 2
    assert double["runs"][0]["images"] == 8
    assert double["runs"][0]["fid"] == pytest.approx(single["runs"][0]["fid"], rel=1e-3)
    # The real statistics were gathered from both ranks' halves of the split.
    (one,) = (tmp_path / "cache-one").iterdir()
    (two,) = (tmp_path / "cache-two").iterdir()
    np.testing.assert_allclose(fid.load_statistics_file(two)[0], fid.load_statistics_file(one)[0],
                               rtol=1e-4, atol=1e-7)  # fmt: skip


def test_hints_are_drawn_with_a_cpu_generator_whatever_the_data_device():
    """CPU and CUDA generators give different streams; the draw must not follow the data."""
    from sketchcolor.data.controls.conditioning import HintConfig

    config = HintConfig.for_size(32, zero_fraction=0.0)
    color = torch.rand(2, 3, 32, 32) * 2 - 1
    on_cpu = sample_fixed_hints(color, ["val_00000000", "val_00000001"], config, seed=0)
    # A meta tensor has no generator of its own: drawing on the data's device would fail here.
    on_meta = sample_fixed_hints(color.to("meta"), ["val_00000000", "val_00000001"], config, 0)
    assert on_meta.mask.device.type == "meta" and on_meta.mask.shape == on_cpu.mask.shape
    assert on_cpu.mask.sum() > 0


@pytest.mark.gpu
def test_gpu_and_cpu_evaluation_draw_the_same_hints():
    from sketchcolor.data.controls.conditioning import HintConfig

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    config = HintConfig.for_size(64, zero_fraction=0.0)
    color = torch.rand(3, 3, 64, 64) * 2 - 1
    keys = [f"val_{index:08d}" for index in range(3)]
    on_cpu = sample_fixed_hints(color, keys, config, seed=0)
    on_gpu = sample_fixed_hints(color.cuda(), keys, config, seed=0)
    assert torch.equal(on_cpu.mask, on_gpu.mask.cpu())
    torch.testing.assert_close(on_cpu.rgb, on_gpu.rgb.cpu())


class TwoRanks:
    """The two attributes of an Accelerator the agreement helpers read (rank 0 of 2)."""

    num_processes = 2
    is_main_process = True


def test_every_rank_takes_the_weights_decision_of_the_rank_that_lacks_them(monkeypatch):
    import accelerate.utils

    from sketchcolor.evaluation import evaluate

    monkeypatch.setattr(evaluate.fid_module, "inception_weights_message", lambda path: None)
    monkeypatch.setattr(accelerate.utils, "gather_object", lambda local: local + ["no weights"])
    assert evaluate.agreed_weights_message(None, TwoRanks()) == "rank 1: no weights"
    monkeypatch.setattr(accelerate.utils, "gather_object", lambda local: local + [None])
    assert evaluate.agreed_weights_message(None, TwoRanks()) is None


def test_an_error_on_rank_0_reaches_every_rank(monkeypatch):
    import accelerate.utils

    from sketchcolor.evaluation import ranks

    sent = []
    monkeypatch.setattr(accelerate.utils, "broadcast_object_list",
                        lambda box, from_process: sent.append(list(box)))  # fmt: skip

    def fails():
        raise SketchcolorError("stats.npz: not an FID statistics .npz")

    with pytest.raises(SketchcolorError, match="stats.npz"):
        ranks.computed_on_main(TwoRanks(), fails)
    assert sent == [[("error", "stats.npz: not an FID statistics .npz")]]
    assert ranks.computed_on_main(TwoRanks(), lambda: 1.5) == 1.5
