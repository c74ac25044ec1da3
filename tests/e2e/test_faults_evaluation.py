"""Faults met by evaluate and colorize: NaN weights, a run failing mid-evaluation, a non-finite
output, a damaged split. Every run is checked first, others' results are kept, one line."""

from __future__ import annotations

import json
import shutil

import pytest

from sketchcolor.errors import SketchcolorError
from tests.support.processes import (
    assert_one_line_error,
    damage,
    run,
    sketchcolor,
)
from tests.support.runs import constant_run


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_evaluate_checks_every_run_before_the_first_and_names_nan_weights(
    shard_dir, tmp_path, monkeypatch, no_inception
):
    import sketchcolor.evaluation.evaluate as evaluate

    good = constant_run(tmp_path / "good", 0.0)
    broken = constant_run(tmp_path / "broken", float("nan"))
    evaluated = []
    monkeypatch.setattr(
        evaluate, "evaluate_run", lambda run_dir, *a, **k: evaluated.append(run_dir)
    )
    with pytest.raises(SketchcolorError, match=r"broken: the generator's weights contain NaN/inf"):
        evaluate.evaluate_runs([good, broken], shard_dir, out_dir=tmp_path / "out", device="cpu")
    assert evaluated == [] and not (tmp_path / "out").exists()


def test_a_run_failing_during_evaluation_keeps_the_others_results(
    shard_dir, tmp_path, monkeypatch, no_inception
):
    import sketchcolor.evaluation.evaluate as evaluate

    first, second = constant_run(tmp_path / "first", 0.0), constant_run(tmp_path / "second", 0.0)
    original = evaluate.evaluate_run

    def fail_second(run_dir, *arguments, **options):
        if run_dir.name == "second":
            raise RuntimeError("decoder: unexpected end of data\nmore detail")
        return original(run_dir, *arguments, **options)

    monkeypatch.setattr(evaluate, "evaluate_run", fail_second)
    out = tmp_path / "out"
    payload = evaluate.evaluate_runs(
        [first, second], shard_dir, out_dir=out, device="cpu", backend="torch"
    )
    written = json.loads((out / "results.json").read_text())
    assert [run["run"] for run in written["runs"]] == [str(first)]
    assert written["runs"][0]["images"] == 8
    assert written["failed"] == [{"run": str(second), "error": "decoder: unexpected end of data"}]
    assert payload["failed"] == written["failed"]


def test_colorize_refuses_to_write_a_non_finite_output(tmp_path, monkeypatch):
    import numpy as np
    import torch
    from PIL import Image

    import sketchcolor.inference.colorize as colorize_module
    import sketchcolor.inference.engines as engines_module

    run_dir = constant_run(tmp_path / "run", 0.0)
    sketch = tmp_path / "sketch.png"
    Image.fromarray(np.full((256, 256, 3), 255, np.uint8)).save(sketch)
    # the torch engine's generator call (sketchcolor.inference.engines), which colorize goes through
    monkeypatch.setattr(
        engines_module, "generate", lambda *a, **k: torch.full((1, 3, 256, 256), float("nan"))
    )
    with pytest.raises(SketchcolorError, match="NaN/inf; nothing written"):
        colorize_module.colorize(sketch, run_dir, tmp_path / "out.png", device="cpu")
    assert not (tmp_path / "out.png").exists()


def test_evaluate_refuses_a_damaged_split_before_writing_anything(shard_dir, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(shard_dir, out)
    damage(out / "val-000001.tar", "flip")
    run_dir = constant_run(tmp_path / "grey", 0.0)
    evaluation = tmp_path / "evaluation"
    refused = run(
        sketchcolor("evaluate", str(run_dir), "--data", str(out), "--out", str(evaluation)),
        tmp_path,
    )
    assert refused.returncode == 2
    assert_one_line_error(refused.stderr, str(out / "val-000001.tar"), "sha256")
    assert not evaluation.exists()
