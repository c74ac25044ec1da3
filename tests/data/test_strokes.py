"""Brush strokes as hint labels: the JSON strokes' pixels and errors, hints PNG against JSON,
colorize end to end, training's simulated strokes (off the lines, inside one truth colour,
seeded, --hint-shape recorded and locked) and the interactive benchmark's strokes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli.train import parse_train_config
from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.controls.conditioning import sample_hints
from sketchcolor.data.controls.user_controls import hints_from_json, hints_from_png, hints_to_rgba
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation.interactive import label_ground, person_label_set
from tests.support.sketches import boxed_split

RED, GREEN, BLUE = (1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0)


def brush_pixels(points: list, width: float, size: tuple[int, int]) -> np.ndarray:
    """The documented rule, written out pixel by pixel: (H, W) bool, True where the distance
    to the polyline is below width / 2 (pixel centres on integers for odd widths, half a
    pixel on for even ones)."""
    height, columns = size
    shift = 0.5 if round(width) % 2 == 0 else 0.0
    ys, xs = np.mgrid[0:height, 0:columns].astype(float) + shift
    ends = points if len(points) > 1 else points * 2
    inside = np.zeros(size, bool)
    for (x0, y0), (x1, y1) in zip(ends[:-1], ends[1:], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        inside |= np.hypot(xs - x0 - t * dx, ys - y0 - t * dy) < width / 2
    return inside


# --- strokes in the hints JSON


def test_a_json_stroke_is_a_round_brush_along_its_points():
    labels = [{"x": 3, "y": 3, "color": "#ff0000"},
              {"points": [[2, 7], [9, 7], [9, 3]], "width": 3, "color": "#0000ff"}]  # fmt: skip
    hints = hints_from_json(labels, (10, 12), label_size=3)
    expected = [
        "............",
        "............",
        "..###...###.",
        "..###...###.",
        "..###...###.",
        "........###.",
        ".##########.",
        ".##########.",
        ".##########.",
        "............",
    ]
    drawn = ["".join("#" if v else "." for v in row) for row in hints.mask[0, 0].int().tolist()]
    assert drawn == expected
    assert hints.rgb[0, :, 7, 5].tolist() == list(BLUE)
    assert hints.rgb[0, :, 3, 3].tolist() == list(RED)
    assert (hints.rgb[0][:, hints.mask[0, 0] == 0] == 1).all()


def test_a_one_point_stroke_is_a_dot_and_even_widths_are_as_wide_as_they_say():
    dot = hints_from_json([{"points": [[6, 4]], "width": 5, "color": "#00ff00"}], (9, 12))
    assert dot.mask[0, 0].int().sum() == 21  # a 5 px disk: 5 x 5 less its 4 corners
    assert dot.mask[0, 0, 2:7, 4:9].sum() == 21 and not dot.mask[0, 0, 2, 4]
    flat = hints_from_json([{"points": [[1, 4], [10, 4]], "width": 4, "color": "#00ff00"}], (9, 12))
    assert flat.mask[0, 0, :, 5].nonzero().flatten().tolist() == [2, 3, 4, 5]


def test_a_later_label_covers_an_earlier_one():
    labels = [{"points": [[0, 2], [11, 2]], "width": 3, "color": "#ff0000"},
              {"x": 5, "y": 2, "color": "#0000ff"}]  # fmt: skip
    hints = hints_from_json(labels, (6, 12), label_size=2)
    assert hints.rgb[0, :, 2, 5].tolist() == list(BLUE)
    assert hints.rgb[0, :, 2, 0].tolist() == list(RED)


@pytest.mark.parametrize(
    ("stroke", "message"),
    [
        ({"points": [], "width": 3}, 'hint 1: "points" must be a list of at least one'),
        ({"points": "here", "width": 3}, 'hint 1: "points" must be a list'),
        ({"points": [[1, 2, 3]], "width": 3}, r"hint 1: point 0 must be \[x, y\]"),
        ({"points": [[1, 1]], "width": 0.5}, r"hint 1: stroke width 0.5 must be 1 to 32 px"),
        ({"points": [[1, 1]], "width": 33}, r"hint 1: stroke width 33 must be 1 to 32 px"),
        ({"points": [[1, 1]]}, 'hint 1: needs "width"'),
        ({"points": [[1, 1], [32, 3]], "width": 3}, r"hint 1 point 1: \(32, 3\) is outside the 32x16"),
        ({"points": [[1, -1]], "width": 3}, "hint 1 point 0: .* is outside"),
        ({"points": [[1, 1]], "width": 3, "color": "blue"}, "hint 1: 'blue' is not a colour"),
        ({"points": [[1, 1]], "width": 3, "color": 7}, 'hint 1: needs a "color"'),
        ({"points": [[1, float("nan")]], "width": 3}, 'hint 1 point 0: "y" must be a finite number'),
        ({"points": [[1, 1]], "width": float("inf")}, 'hint 1: "width" must be a finite number'),
        ({"points": [[1, 1]], "width": True}, 'hint 1: "width" must be a finite number'),
        ({"points": [[1, 1]], "x": 1, "width": 3}, 'hint 1: a stroke has "points", a dot'),
    ],
)  # fmt: skip
def test_each_bad_stroke_is_a_one_line_error_naming_its_label(stroke, message):
    labels = [{"x": 1, "y": 1, "color": "#000000"}, {"color": "#ff0000", **stroke}]
    with pytest.raises(SketchcolorError, match=message) as caught:
        hints_from_json(labels, (16, 16), source_size=(16, 32))
    assert "\n" not in str(caught.value)


def test_a_stroke_in_a_hints_png_gives_the_pixels_of_the_same_stroke_in_json(tmp_path):
    points, width, size = [[5, 6], [30, 9], [34, 30], [12, 26]], 6, (40, 48)
    png = np.zeros((*size, 4), np.uint8)
    png[brush_pixels(points, width, size)] = (255, 0, 255, 255)  # drawn by the rule itself
    Image.fromarray(png, mode="RGBA").save(tmp_path / "hints.png")
    stroke = [{"points": points, "width": width, "color": "#ff00ff"}]
    from_png, from_json = hints_from_png(tmp_path / "hints.png"), hints_from_json(stroke, size)
    assert torch.equal(from_png.mask, from_json.mask) and torch.equal(from_png.rgb, from_json.rgb)
    rgba, drawn = hints_to_rgba(from_json), png[..., 3] > 0
    assert (rgba[..., 3] == png[..., 3]).all() and (rgba[drawn] == png[drawn]).all()
    # Scaled, the PNG is resized and the JSON stroke drawn at the scaled width: they agree up
    # to the edge pixels nearest-neighbour resizing moves (measured: 0.84 and 0.92 of their
    # union in common at half and double size).
    for scaled, agreement in (((20, 24), 0.8), ((80, 96), 0.9)):
        resized = hints_from_png(tmp_path / "hints.png", scaled).mask > 0
        drawn = hints_from_json(stroke, scaled, source_size=size).mask > 0
        assert (resized & drawn).sum() / (resized | drawn).sum() > agreement


def test_colorize_takes_a_json_stroke_as_it_takes_the_same_stroke_in_a_png(served_runs, tmp_path):
    from sketchcolor.inference.colorize import colorize

    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[[20, 230], 20:231] = 0
    sketch[20:231, [20, 230]] = 0
    Image.fromarray(sketch).save(tmp_path / "sketch.png")
    stroke = {"points": [[60, 60], [190, 80], [120, 200]], "width": 12, "color": "#00ffff"}
    (tmp_path / "h.json").write_text(json.dumps([stroke]))
    png = np.zeros((256, 256, 4), np.uint8)
    png[brush_pixels(stroke["points"], 12, (256, 256))] = (0, 255, 255, 255)
    Image.fromarray(png, mode="RGBA").save(tmp_path / "h.png")
    run = served_runs["hints"]
    outputs = {}
    for name, given in (("json", {"hints_json": tmp_path / "h.json"}),
                        ("png", {"hints_png": tmp_path / "h.png"}), ("none", {})):  # fmt: skip
        (target,) = colorize(tmp_path / "sketch.png", run, tmp_path / f"{name}.png", device="cpu",
                             **given)  # fmt: skip
        outputs[name] = np.asarray(Image.open(target).convert("RGB")).astype(int)
    assert (outputs["json"] == outputs["png"]).all()
    assert np.abs(outputs["json"] - outputs["none"]).max() > 0  # the stroke reached the model


def test_the_overlay_shows_strokes_over_the_sketch():
    from sketchcolor.serve.controls import hint_overlay, labels_to_text, parse_labels

    stroke = {"points": [[4, 10], [25, 10]], "width": 4, "color": "#0000ff"}
    labels = parse_labels(labels_to_text([stroke]))
    assert labels == [stroke]
    overlay = hint_overlay(torch.full((1, 3, 20, 30), 1.0), labels, 6)
    blue = (overlay == (0, 0, 255)).all(axis=-1)
    assert (blue == brush_pixels(stroke["points"], 4, (20, 30))).all() and blue.sum() > 80
    assert (overlay[~blue] == 255).all()


# --- strokes in training


def striped_pair(batch: int = 2):
    """A 48 px sketch with a 4 px vertical line; the truth red above green on the left (no
    line between them) and blue on the right."""
    sketch = torch.ones(batch, 3, 48, 48)
    sketch[:, :, :, 22:26] = -1.0
    color = torch.empty(batch, 3, 48, 48)
    color[:, :, :24, :24] = torch.tensor(RED)[:, None, None]
    color[:, :, 24:, :24] = torch.tensor(GREEN)[:, None, None]
    color[:, :, :, 24:] = torch.tensor(BLUE)[:, None, None]
    return sketch, color


def simulated(shape: str, seed: int, counts=(12, 8)):
    sketch, color = striped_pair(len(counts))
    config = HintConfig(placement="dots", shape=shape, label_size=3, grid=8, max_labels=16,
                        zero_fraction=0)  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    hints = sample_hints(color, config, generator, counts=torch.tensor(counts), sketch=sketch)
    return hints, sketch, color


@pytest.mark.parametrize("shape", ["strokes", "both"])
def test_training_strokes_stay_off_the_lines_inside_one_truth_colour(shape):
    hints, sketch, color = simulated(shape, seed=0)
    covered = hints.mask[:, 0] > 0
    assert covered.any() and not covered[:, :, 22:26].any()  # nothing on the line
    # Every painted pixel has the truth's colour there: no stroke crossed the red-green edge,
    # which no line marks, nor the line. (A dot's square, in "both", may straddle that edge,
    # as dots always could: it takes the colour under its centre.)
    check = covered.clone()
    if shape == "both":
        check[:, 23:25] = False
    assert torch.equal(hints.rgb.permute(0, 2, 3, 1)[check], color.permute(0, 2, 3, 1)[check])
    assert (hints.rgb.permute(0, 2, 3, 1)[~covered] == 1).all()


def test_training_strokes_are_seeded_and_longer_than_dots():
    strokes, _, _ = simulated("strokes", seed=0)
    assert torch.equal(strokes.mask, simulated("strokes", seed=0)[0].mask)
    assert not torch.equal(strokes.mask, simulated("strokes", seed=1)[0].mask)
    dots, _, _ = simulated("dots", seed=0)  # the same draws start the strokes at the dots
    assert strokes.mask.sum() > 1.5 * dots.mask.sum()
    both, _, _ = simulated("both", seed=0)
    assert not torch.equal(both.mask, strokes.mask) and not torch.equal(both.mask, dots.mask)
    for shape in ("strokes", "both"):  # a batch without any label (zero_fraction's samples)
        empty, _, _ = simulated(shape, seed=0, counts=(0, 0))
        assert empty.mask.sum() == 0 and (empty.rgb == 1).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_strokes_on_the_gpu_keep_to_the_lines_and_colours():
    sketch, color = striped_pair(2)
    config = HintConfig(placement="dots", shape="strokes", label_size=3, grid=8, max_labels=16)
    generator = torch.Generator("cuda").manual_seed(0)
    hints = sample_hints(color.cuda(), config, generator, counts=torch.tensor([12, 8]).cuda(),
                         sketch=sketch.cuda())  # fmt: skip
    covered = hints.mask[:, 0].cpu() > 0
    assert covered.any() and not covered[:, :, 22:26].any()
    rgb = hints.rgb.cpu().permute(0, 2, 3, 1)
    assert torch.equal(rgb[covered], color.permute(0, 2, 3, 1)[covered])


def test_strokes_need_dot_placement_in_one_line():
    with pytest.raises(SketchcolorError, match="hint shape 'strokes' needs --hint-placement dots"):
        HintConfig(shape="strokes")
    with pytest.raises(SketchcolorError, match="unknown hint shape 'blobs'"):
        HintConfig(placement="dots", shape="blobs")


def test_hint_shape_is_a_flag_recorded_in_the_run_config_and_locked_on_resume(tmp_path):
    arguments = ["--data", "d", "--out", str(tmp_path / "run"), "--color", "hints",
                 "--hint-placement", "dots"]  # fmt: skip
    config = parse_train_config([*arguments, "--hint-shape", "strokes"])
    assert config.hints.shape == "strokes" and parse_train_config(arguments).hints.shape == "dots"
    config.save(tmp_path / "train_config.json")
    recorded = json.loads((tmp_path / "train_config.json").read_text())
    assert recorded["hints"]["shape"] == "strokes"
    previous = TrainConfig.load(tmp_path / "train_config.json")
    assert previous.resume_conflicts(config) == []
    dots = parse_train_config([*arguments, "--hint-shape", "dots"])
    assert dots.resume_conflicts(previous) == ["hints.shape: 'strokes' -> 'dots'"]


def test_a_stroke_trained_run_records_its_shape_and_refuses_another_on_resume(shard_dir, tmp_path):
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    def config(shape: str, **extra):
        return tiny_config(shard_dir, tmp_path / "run", color_control="hints", max_steps=2,
                           batch_size=2, save_every=2, sample_every=0, hint_placement="dots",
                           hint_shape=shape, batchnorm_batches=1, **extra)  # fmt: skip

    run = train(config("strokes"))
    assert json.loads((run / "config.json").read_text())["hint_config"]["shape"] == "strokes"
    with pytest.raises(SketchcolorError, match="hints.shape: 'strokes' -> 'both'"):
        train(config("both", resume=True))


# --- strokes in the interactive benchmark


def test_benchmark_strokes_are_nested_seeded_and_inside_one_region():
    split = boxed_split(2)
    labels = person_label_set(split, 16, 5, seed=0, shape="strokes")
    fewer = person_label_set(split, 4, 5, seed=0, shape="strokes")
    for index in range(2):
        assert np.array_equal(fewer.strokes[index], labels.strokes[index][:4])  # nested
        assert np.array_equal(fewer.centres[index], labels.centres[index][:4])
    again = person_label_set(split, 16, 5, seed=0, shape="strokes")
    assert np.array_equal(again.strokes[0], labels.strokes[0])
    assert not np.array_equal(labels.strokes[0], labels.strokes[1])  # another key
    other = person_label_set(split, 16, 5, seed=1, shape="strokes")
    assert not np.array_equal(other.strokes[0], labels.strokes[0])
    moved = [np.abs(stroke[-1] - stroke[0]).max() for stroke in labels.strokes[0]]
    assert max(moved) >= 5  # they are strokes, not dots
    for index in range(2):
        ground = label_ground(split, index, 5)
        truth = split.truth_u8[index]
        for stroke, (y, x) in zip(labels.strokes[index], labels.centres[index], strict=True):
            rows, columns = np.round(stroke).astype(int).T
            assert ground[rows, columns].all()  # every vertex off the lines, coloured
            assert (truth[rows, columns] == truth[y, x]).all()  # one colour: one region here
    hints = labels.hints(split, 0, 2, 16, 5)
    covered = hints.mask[:, 0].numpy() > 0
    assert split.coloured[covered].all()
    painted = ((hints.rgb.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round()
    assert (painted[covered] == split.truth_u8[covered]).all()
    points = labels.points(split, 0, 4)  # each stroke's distinct vertices, in its colour
    starts = {(int(y), int(x)) for y, x in labels.centres[0][:4]}
    assert starts <= {(y, x) for y, x, _ in points} and 4 < len(points) <= 4 * 4
    assert all(color == tuple(split.truth_u8[0, y, x]) for y, x, color in points)


def test_benchmark_shape_must_be_dots_or_strokes():
    with pytest.raises(SketchcolorError, match="unknown hint shape 'both'"):
        person_label_set(boxed_split(1), 4, 5, seed=0, shape="both")
