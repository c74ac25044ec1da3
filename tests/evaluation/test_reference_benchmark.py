"""`evaluate --reference-benchmark`: the cases, the baselines and the files it writes, on tiny
trained runs (how well a trained run does: tests/e2e/test_learning_real.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.config import EvaluateConfig
from sketchcolor.data.regions import bucket_from_picture
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation.interactive import Split
from sketchcolor.evaluation.reference_benchmark import (
    REFERENCE_BUCKET,
    SEQUENCE_FRAMES,
    accuracy_of,
    near_any,
    person_pairs,
    tone_of,
)
from sketchcolor.util.images import from_uint8
from tests.support.runs import train_tiny_run


@pytest.fixture(scope="module")
def runs(shard_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference_benchmark_runs")
    return {"reference": train_tiny_run(shard_dir, root / "reference", "R", "reference"),
            "mixed": train_tiny_run(shard_dir, root / "mixed", "1", "mixed"),
            "hints": train_tiny_run(shard_dir, root / "hints", "1", "hints")}  # fmt: skip


def test_people_pair_with_another_drawing_of_the_same_person_and_tone():
    keys = ["1F468-1F3FC", "1F468-1F3FC-200D-1F692", "1F468-1F3FD-200D-1F692",
            "1F468-1F3FD-200D-1F393", "1F468-1F3FD-200D-1F3A4", "1F469-1F3FB-200D-1F373",
            "1F469-1F3FB-200D-2764-FE0F-200D-1F468-1F3FE", "1F600"]  # fmt: skip
    targets = ["1F468-1F3FC-200D-1F692", "1F468-1F3FD-200D-1F692", "1F469-1F3FB-200D-1F373",
               "1F469-1F3FB-200D-2764-FE0F-200D-1F468-1F3FE", "1F600"]  # fmt: skip
    assert person_pairs(targets, keys) == [
        ("1F468-1F3FC-200D-1F692", "1F468-1F3FC"),  # the bare person first
        ("1F468-1F3FD-200D-1F692", "1F468-1F3FD-200D-1F393"),  # else the shortest, by name
    ]  # the cook has no other drawing; the couple has two tones; the face has none
    assert tone_of("1F469-1F3FB-200D-2764-FE0F-200D-1F468-1F3FE") is None
    assert tone_of("1F44D-1F3FE") == "1F3FE"


def flat_picture() -> tuple[np.ndarray, np.ndarray]:
    """A (sketch, colours) pair: two outlined boxes filled with flat colours."""
    sketch = np.full((64, 64, 3), 255, np.uint8)
    color = sketch.copy()
    for (y0, y1, x0, x1), fill in (
        ((8, 30, 8, 56), (200, 40, 40)),
        ((36, 58, 8, 56), (30, 90, 200)),
    ):
        color[y0:y1, x0:x1] = fill
        for picture in (sketch, color):
            picture[y0:y1, (x0, x1 - 1)] = 0
            picture[(y0, y1 - 1), x0:x1] = 0
    return sketch, color


def test_the_bucket_from_a_reference_in_place_colours_everything_right():
    sketch, color = flat_picture()
    frames = Split(["a"], from_uint8(sketch[None]), from_uint8(color[None]), torch.zeros(1, 9, 3))
    assert accuracy_of(bucket_from_picture(sketch, color)[None], frames) == pytest.approx(1.0)
    moved = np.roll(color, 28, axis=0)  # the boxes swapped: the bucket takes wrong colours
    assert accuracy_of(bucket_from_picture(sketch, moved)[None], frames) < 0.8
    assert near_any(color, np.array([[200, 40, 40]]))[20, 20]
    assert not near_any(color, np.array([[200, 40, 40]]))[45, 20]


def test_the_benchmark_writes_every_case_and_each_reference_runs_card(runs, shard_dir, tmp_path):
    out = tmp_path / "reference"
    status = main(["evaluate", str(runs["reference"]), str(runs["mixed"]), "--data",
                   str(shard_dir), "--reference-benchmark", "--max-images", "2", "--backend",
                   "torch", "--out", str(out)])  # fmt: skip
    assert status == 0
    payload = json.loads((out / "reference.json").read_text())
    names = ["paint bucket (reference at the same place)", "reference", "reference + flatten",
             "mixed", "mixed + flatten"]  # fmt: skip
    for strength in ("small", "medium", "large"):
        rows = [row for row in payload["warped_frames"] if row["strength"] == strength]
        assert [row["name"] for row in rows] == names
        assert all(0.0 <= row["accuracy"] <= 1.0 for row in rows)
    assert list(payload["chained_sequence"]) == ["reference"]
    assert len(payload["chained_sequence"]["reference"]) == SEQUENCE_FRAMES
    assert payload["same_character"] == []  # synthetic shapes: no OpenMoji people
    table = (out / "reference.md").read_text()
    for heading in ("**Warped frames**", "**Chained sequence**", "**Same character"):
        assert heading in table
    assert f"| {REFERENCE_BUCKET} |" in table
    for picture in ("reference-curves.png", "reference-examples.png"):
        assert Image.open(out / picture).size[0] > 500
    assert "## Reference colorization" in (runs["reference"] / "MODEL_CARD.md").read_text()
    card = runs["mixed"] / "MODEL_CARD.md"
    assert not card.exists() or "## Reference colorization" not in card.read_text()


def test_runs_of_other_controls_and_mixed_options_are_refused(runs, shard_dir, tmp_path, capsys):
    status = main(["evaluate", str(runs["hints"]), "--data", str(shard_dir),
                   "--reference-benchmark", "--out", str(tmp_path / "x")])  # fmt: skip
    assert status != 0
    assert "colour control 'hints'; the reference benchmark takes" in capsys.readouterr().err
    with pytest.raises(SketchcolorError, match="--hint-counts or --reference-benchmark"):
        EvaluateConfig(runs=(runs["reference"],), data=shard_dir, hint_counts="0,4",
                       reference_benchmark=True)  # fmt: skip


def test_the_interactive_benchmark_sends_a_reference_run_to_its_own(runs, shard_dir, tmp_path,
                                                                    capsys):  # fmt: skip
    status = main(["evaluate", str(runs["reference"]), "--data", str(shard_dir),
                   "--hint-counts", "0,4", "--out", str(tmp_path / "x")])  # fmt: skip
    assert status != 0
    assert "a reference run; measure it with --reference-benchmark" in capsys.readouterr().err
