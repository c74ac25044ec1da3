"""The interactive benchmark (`evaluate --hint-counts`), hint spreading and `--flatten`, on
drawn shapes whose regions and colours are known, then end to end on a tiny trained run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import (
    Hints,
    build_generator_input,
    empty_hints,
    spread_hints,
)
from sketchcolor.data.regions import fill_labelled_regions, label_points, segment_regions
from sketchcolor.evaluation.interactive import (
    Benchmark,
    colour_accuracy,
    interactive_benchmark,
    person_labels,
    stride_power,
)
from sketchcolor.evaluation.interactive_report import step_series, write_step_curve
from sketchcolor.inference.flattening import flatten_picture
from sketchcolor.util.images import from_uint8, to_uint8
from tests.support.sketches import BLUE, RED, boxed_sketch, boxed_split

REPO = Path(__file__).resolve().parents[2]


def test_colour_accuracy_counts_only_coloured_pixels_within_the_tolerance():
    split = boxed_split(1)
    output = split.truth_u8.copy()
    output[0, 1:-1, 33:-1] = (0, 0, 230)  # blue off by 25 > 24: the right half is wrong
    output[0, 1:-1, 1:10] = (20, 20, 20)  # and 9 of the left half's 30 columns
    accuracy = colour_accuracy(output, split.truth_u8, split.coloured)
    assert accuracy[0] == pytest.approx(21 * 62 / (60 * 62))
    output[0, 1:-1, 33:-1] = (0, 0, 231)  # off by 24: right
    assert colour_accuracy(output, split.truth_u8, split.coloured)[0] == pytest.approx(51 / 60)


def test_person_labels_are_seeded_by_key_nested_and_off_the_lines():
    split = boxed_split(2)
    first = person_labels(split, 16, 5, seed=0)
    assert np.array_equal(first[0], person_labels(split, 16, 5, seed=0)[0])
    assert not np.array_equal(first[0], first[1])  # another key, other labels
    assert not np.array_equal(first[0], person_labels(split, 16, 5, seed=1)[0])
    assert np.array_equal(person_labels(split, 4, 5, seed=0)[0], first[0][:4])
    for y, x in first[0]:
        assert split.coloured[0, y - 2 : y + 3, x - 2 : x + 3].all()  # the 5 px label too


def test_stride_power_sees_a_checkerboard_and_not_flat_colours():
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 8, 8, generator=generator) * 2 - 1
    smooth = torch.nn.functional.interpolate(coarse, size=64, mode="bilinear")
    checkered = smooth.clone()
    checkered[..., ::2, ::2] -= 0.05  # what uneven overlap of stride-2 kernels leaves
    assert stride_power(checkered) > 20 * stride_power(smooth)
    assert stride_power(smooth.flip(-1)) == pytest.approx(stride_power(smooth), rel=1e-4)


def test_label_points_and_region_fill():
    mask = np.zeros((64, 64), bool)
    mask[10:15, 5:10] = True
    mask[40:45, 50:55] = True
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[mask] = RED
    points = label_points(mask, rgb)
    assert [(y // 5, x // 5, color) for y, x, color in points] == [(2, 1, RED), (8, 10, RED)]
    regions = segment_regions(boxed_sketch(0).mean(axis=2) < 200)
    colors, filled = fill_labelled_regions(regions, mask[:, :] & (np.arange(64) < 32), rgb * 1.0)
    assert filled[50, 20] and not filled[50, 50]
    assert tuple(colors[50, 20]) == RED


def test_spread_hints_fill_the_labels_region_up_to_the_lines():
    sketch = from_uint8(boxed_sketch(2)[None])  # a 2 px gap: still two regions
    hints = empty_hints(sketch)
    hints.mask[0, 0, 20:25, 8:13] = 1
    hints.rgb[0, :, 20:25, 8:13] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]
    spread = spread_hints(sketch, hints)
    assert spread.mask[0, 0, 1:-1, 1:31].all()  # the whole left region
    assert not spread.mask[0, 0, :, 33:].any()  # not through the gap
    assert not spread.mask[0, 0, :20, 31:33].any()  # nor over the line
    assert torch.equal(spread.rgb[0, :, 50, 5], torch.tensor([1.0, -1.0, -1.0]))
    inputs = build_generator_input("hints", sketch, hints=hints,
                                   hint_config=HintConfig(encoding="channels", spread="regions"))  # fmt: skip
    assert torch.equal(inputs[:, 6:7], spread.mask)


def test_spread_keeps_two_colours_of_one_region_each_on_its_side():
    sketch = from_uint8(boxed_sketch(2)[None])
    hints = empty_hints(sketch)
    for rows, color in ((slice(5, 8), [1.0, -1.0, -1.0]), (slice(55, 58), [-1.0, -1.0, 1.0])):
        hints.mask[0, 0, rows, 8:11] = 1
        hints.rgb[0, :, rows, 8:11] = torch.tensor(color)[:, None, None]
    spread = spread_hints(sketch, hints)
    assert torch.equal(spread.rgb[0, :, 15, 20], torch.tensor([1.0, -1.0, -1.0]))  # top: red
    assert torch.equal(spread.rgb[0, :, 50, 20], torch.tensor([-1.0, -1.0, 1.0]))  # bottom: blue
    assert spread.mask[0, 0, 1:-1, 1:31].all()


def test_flatten_picture_gives_each_region_one_colour_and_keeps_the_label():
    sketch = from_uint8(boxed_sketch(0)[None])
    output = torch.rand(1, 3, 64, 64) * 2 - 1
    hints = Hints(rgb=torch.ones(1, 3, 64, 64), mask=torch.zeros(1, 1, 64, 64))
    hints.mask[0, 0, 30:33, 40:43] = 1
    hints.rgb[0, :, 30:33, 40:43] = torch.tensor([-1.0, -1.0, 1.0])[:, None, None]
    flat = to_uint8(flatten_picture(output, sketch, hints))[0]
    assert len(np.unique(flat[1:-1, 1:31].reshape(-1, 3), axis=0)) == 1
    assert (flat[1:-1, 33:-1] == BLUE).all()
    assert (flat[:, 31:33] == 0).all()


@pytest.fixture(scope="module")
def spread_run(shard_dir, tmp_path_factory) -> Path:
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    out = tmp_path_factory.mktemp("interactive") / "m1-hints"
    config = tiny_config(shard_dir, out, color_control="hints", max_steps=2, batch_size=2,
                         save_every=1, keep_checkpoints=2, sample_every=0,
                         hint_placement="dots", hint_spread="regions",
                         upsampling="resize")  # fmt: skip
    return train(config)


def test_evaluate_hint_counts_writes_the_benchmark(spread_run, shard_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["evaluate", str(spread_run), "--data", str(shard_dir), "--hint-counts", "0,4",
                 "--flatten", "--out", str(out), "--backend", "torch"])  # fmt: skip
    assert code == 0
    payload = json.loads((out / "results.json").read_text())
    names = [(row["name"], row["labels"]) for row in payload["rows"]]
    assert names == [("paint bucket", 0), ("m1-hints", 0), ("m1-hints + flatten", 0),
                     ("paint bucket", 4), ("m1-hints", 4), ("m1-hints + flatten", 4)]  # fmt: skip
    assert payload["images"] == 8 and payload["hint_shape"] == "dots"
    bucket = {row["labels"]: row for row in payload["rows"] if row["name"] == "paint bucket"}
    assert bucket[0]["accuracy"] < bucket[4]["accuracy"]  # labels colour their regions
    assert set(payload["checkerboard"]) == {"m1-hints"}
    options = payload["options"]["m1-hints"]
    assert options.startswith("model 1, width 1/16, resize upsampling, step 2, hints")
    assert f"| m1-hints | {options} |" in (out / "results.md").read_text()
    for name in ("results.md", "results-labels.png", "examples.png"):
        assert (out / name).stat().st_size > 0
    card = (spread_run / "MODEL_CARD.md").read_text()
    assert card.count("## Interactive colorization") == 1
    assert "| m1-hints + flatten |" in card
    assert "colour accuracy" in capsys.readouterr().out


def test_a_checkpoint_scores_as_the_export_it_was_saved_with(spread_run, shard_dir):
    common = dict(hint_counts=(0, 4), flatten=True, backend="torch", max_images=4)
    exported = interactive_benchmark([spread_run], shard_dir, **common).rows
    checkpoint = spread_run / "checkpoints" / "step-2"
    saved = interactive_benchmark([checkpoint], shard_dir, **common).rows
    assert [row["name"] for row in saved if row["labels"] == 4] == [
        "paint bucket", "m1-hints@2", "m1-hints@2 + flatten"]  # fmt: skip
    for first, second in zip(exported, saved, strict=True):
        assert first["accuracy"] == pytest.approx(second["accuracy"], abs=1e-6)
    assert not (checkpoint / "MODEL_CARD.md").exists()


def test_all_checkpoints_draw_accuracy_against_the_step(spread_run, shard_dir, tmp_path):
    out = tmp_path / "steps"
    assert main(["evaluate", str(spread_run), "--all-checkpoints", "--data", str(shard_dir),
                 "--hint-counts", "0,4", "--flatten", "--max-images", "4", "--out", str(out),
                 "--backend", "torch"]) == 0  # fmt: skip
    rows = json.loads((out / "results.json").read_text())["rows"]
    steps = {(row["name"], row.get("step")) for row in rows if row["labels"] == 4}
    assert steps == {("paint bucket", None), ("m1-hints@1", 1), ("m1-hints@1 + flatten", 1),
                     ("m1-hints@2", 2), ("m1-hints@2 + flatten", 2)}  # fmt: skip
    with Image.open(out / "results-steps.png") as picture:
        assert picture.size == (720, 380)  # a panel per label count
    assert not (tmp_path / "bench" / "results-steps.png").exists()


def test_step_series_follows_each_run_folder_over_its_checkpoints(tmp_path):
    def measured(run, step, accuracy, flat=False, labels=4):
        name = run.split("/")[-1] + (f"@{step}" if "checkpoints" in run else "")
        return {"name": name + (" + flatten" if flat else ""), "labels": labels, "run": run,
                "step": step, "accuracy": accuracy}  # fmt: skip

    rows = [{"name": "paint bucket", "labels": 4, "accuracy": 0.6},
            measured("a/checkpoints/step-10", 10, 0.3), measured("a/checkpoints/step-20", 20, 0.5),
            measured("a/checkpoints/step-20", 20, 0.7, flat=True), measured("a", 30, 0.55),
            measured("b", 30, 0.4)]  # fmt: skip
    benchmark = Benchmark(rows, {}, 4, (4,), {}, 4, None, None)
    assert step_series(benchmark) == {("a", False): {4: {10: 0.3, 20: 0.5, 30: 0.55}}}
    assert write_step_curve(benchmark, tmp_path / "steps.png")
    assert Image.open(tmp_path / "steps.png").size == (360, 380)
    alone = Benchmark(rows[-1:], {}, 4, (4,), {}, 4, None, None)
    assert not write_step_curve(alone, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_onnxruntime_engine_scores_as_torch_does(spread_run, shard_dir):
    pytest.importorskip("onnxruntime")
    common = dict(hint_counts=(0, 4), max_images=4, backend="torch", flatten=True)
    by_torch = interactive_benchmark([spread_run], shard_dir, **common).rows
    by_onnx = interactive_benchmark([spread_run], shard_dir, engine="onnxruntime", **common).rows
    assert [(r["name"], r["labels"]) for r in by_onnx] == [
        (r["name"], r["labels"]) for r in by_torch
    ]
    for ours, theirs in zip(by_onnx, by_torch, strict=True):
        assert ours["l1"] == pytest.approx(theirs["l1"], abs=1e-4)
        assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=0.01)


def test_evaluate_hint_shape_strokes_says_so_in_its_results(spread_run, shard_dir, tmp_path):
    out = tmp_path / "strokes"
    code = main(["evaluate", str(spread_run), "--data", str(shard_dir), "--hint-counts", "0,4",
                 "--hint-shape", "strokes", "--out", str(out), "--backend", "torch"])  # fmt: skip
    assert code == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["hint_shape"] == "strokes"
    assert "labels (strokes)" in (out / "results.md").read_text()
    bucket = {row["labels"]: row for row in payload["rows"] if row["name"] == "paint bucket"}
    assert bucket[0]["accuracy"] < bucket[4]["accuracy"]  # strokes colour their regions too
    assert (out / "examples.png").stat().st_size > 0


def test_hint_counts_and_flatten_refuse_bad_input(spread_run, shard_dir, tmp_path, capsys):
    common = [str(spread_run), "--data", str(shard_dir), "--out", str(tmp_path / "x")]
    assert main(["evaluate", *common, "--hint-counts", "4,many"]) != 0
    assert "--hint-counts takes label counts" in capsys.readouterr().err
    assert main(["evaluate", *common, "--flatten"]) != 0
    assert "give --hint-counts" in capsys.readouterr().err
    assert main(["evaluate", *common, "--engine", "onnxruntime"]) != 0
    assert "--engine/--onnx is for the interactive benchmark" in capsys.readouterr().err
    assert main(["evaluate", str(spread_run), *common, "--hint-counts", "4", "--onnx",
                 str(tmp_path / "g.onnx")]) != 0  # fmt: skip
    assert "give one run" in capsys.readouterr().err
    assert main(["evaluate", *common, "--hint-shape", "strokes"]) != 0
    assert "--hint-shape is for the interactive benchmark" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_colorize_flatten_writes_flat_regions(spread_run, tmp_path):
    from PIL import Image

    sketch_path = tmp_path / "frame.png"
    Image.fromarray(boxed_sketch(0)).resize((256, 256), Image.NEAREST).save(sketch_path)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"x": 60, "y": 120, "color": "#ff0000"}]))
    out = tmp_path / "flat.png"
    assert main(["colorize", str(sketch_path), "--run", str(spread_run), "--out", str(out),
                 "--hints-json", str(labels), "--flatten"]) == 0  # fmt: skip
    flat = np.asarray(Image.open(out).convert("RGB"))
    assert (flat[20:230, 20:110] == RED).all()  # the labelled region, whole
    right = flat[20:230, 150:230].reshape(-1, 3)
    assert len(np.unique(right, axis=0)) == 1  # the other region: one colour (the network's)


def test_small_run_config_file_equals_the_preset():
    from sketchcolor.cli.train import parse_train_config
    from sketchcolor.training.presets import small_run_config

    from_file = parse_train_config(["--config", str(REPO / "launch/configs/small-run.toml"),
                                    "--data", "d", "--out", "o"])  # fmt: skip
    preset = small_run_config("d", "o", max_steps=1200)
    assert from_file.to_dict() == preset.to_dict()


def test_serve_flattens_when_asked(spread_run, tmp_path):
    from PIL import Image

    from sketchcolor.inference.colorizer import load_colorizer
    from sketchcolor.serve.app import colorize_request

    sketch_path = tmp_path / "frame.png"
    Image.fromarray(boxed_sketch(0)).resize((256, 256), Image.NEAREST).save(sketch_path)
    models = {"m1-hints": load_colorizer(spread_run, "cpu")}
    labels = json.dumps([{"x": 200, "y": 120, "color": "#0000ff"}])
    request = (models, str(sketch_path), "m1-hints", labels, "")
    flat = to_uint8(colorize_request(*request, flatten=True))[0]
    plain = to_uint8(colorize_request(*request))[0]
    assert (flat[20:230, 150:230] == BLUE).all()
    assert not (plain[20:230, 150:230] == BLUE).all()


def test_the_benchmark_reads_the_stored_maps_and_scores_as_when_it_segments(
    spread_run, synth_root, shard_dir, tmp_path, monkeypatch
):
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards
    from sketchcolor.evaluation import interactive
    from tests.support.old_shards import strip_regions

    common = dict(hint_counts=(0, 4), max_images=6, backend="torch", flatten=True)
    segmented = []
    original = interactive.segment_regions
    monkeypatch.setattr(interactive, "segment_regions",
                        lambda *a, **k: segmented.append(1) or original(*a, **k))  # fmt: skip
    interactive.interactive_benchmark([spread_run], shard_dir, **common)
    assert len(segmented) == 6  # maps stored at 64 px are not the run's 256 px segmentation
    at_run_size = tmp_path / "s256"
    prepare_shards(synth_root, at_run_size, ShardConfig(size=256, seed=0), progress=False)
    segmented.clear()
    stored = interactive.interactive_benchmark([spread_run], at_run_size, **common).rows
    assert segmented == []  # every val map came from the shards
    old = strip_regions(at_run_size, tmp_path / "old")
    fresh = interactive.interactive_benchmark([spread_run], old, **common).rows
    assert len(segmented) == 6
    assert [r["name"] for r in stored] == [r["name"] for r in fresh]
    flat = next(r for r in stored if r["name"].endswith("flatten") and r["labels"] == 4)
    assert flat["accuracy"] > 0.5  # the regions decide this row: the comparison can fail
    for ours, theirs in zip(stored, fresh, strict=True):
        assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-9), ours["name"]
