"""User colour controls: hex and image palettes, hints PNG / JSON, and `sketchcolor hints`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import node_starts, sample_hints
from sketchcolor.data.controls.user_controls import (
    hints_from_json,
    load_hints,
    palette_from_hex,
    palette_from_image,
    reference_hints,
)
from sketchcolor.errors import SketchcolorError


def test_palette_from_hex_fills_nine_slots_in_order():
    palette = palette_from_hex(["#ff0000", "0080ff"])
    assert palette.shape == (1, 9, 3)
    red, blue = torch.tensor([1.0, -1.0, -1.0]), torch.tensor([-1.0, 128 / 127.5 - 1, 1.0])
    for slot in range(9):
        torch.testing.assert_close(palette[0, slot], red if slot % 2 == 0 else blue)
    with pytest.raises(SketchcolorError, match="not a colour"):
        palette_from_hex(["#12345"])
    with pytest.raises(SketchcolorError, match="1 to 9"):
        palette_from_hex(["#000000"] * 10)


def test_palette_from_image_finds_its_flat_colors_largest_first(tmp_path):
    image = np.zeros((60, 60, 3), np.uint8)
    image[:, :40] = (200, 30, 30)  # two thirds red
    image[:, 40:] = (20, 40, 220)  # one third blue
    path = tmp_path / "reference.png"
    Image.fromarray(image).save(path)
    palette = palette_from_image(path)
    assert palette.shape == (1, 9, 3)
    expected_first = torch.tensor([200, 30, 30]) / 127.5 - 1
    torch.testing.assert_close(palette[0, 0], expected_first, atol=0.02, rtol=0)
    # Every centre is one of the two colours (k-means with 9 centres on 2 colours), and both occur.
    targets = torch.tensor([[200, 30, 30], [20, 40, 220]]) / 127.5 - 1  # (2, 3)
    distances = (palette[0][:, None] - targets[None]).abs().amax(-1)  # (9, 2)
    assert (distances.min(dim=1).values < 0.02).all()
    assert set(distances.argmin(dim=1).tolist()) == {0, 1}


def test_hints_cli_writes_the_labels_training_would_sample(tmp_path, capsys):
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    reference = np.asarray(Image.fromarray(coarse).resize((128, 128), Image.Resampling.NEAREST))
    reference_path, hints_path = tmp_path / "ref.png", tmp_path / "hints.png"
    Image.fromarray(reference).save(reference_path)

    code = main(
        [
            "hints",
            str(reference_path),
            "-o",
            str(hints_path),
            "--count",
            "6",
            "--seed",
            "3",
            "--grid",
            "8",
            "--label-size",
            "10",
        ]
    )
    assert code == 0
    assert "wrote 6 hint labels" in capsys.readouterr().out
    written = np.asarray(Image.open(hints_path))
    assert written.shape == (128, 128, 4)

    # The PNG carries exactly what the training sampler gives for the same seed.
    expected, labels = reference_hints(reference, HintConfig(grid=8), count=6, seed=3)
    assert labels == 6
    loaded = load_hints(hints_path, size=(128, 128))
    assert torch.equal(loaded.mask, expected.mask)
    torch.testing.assert_close(loaded.rgb, expected.rgb, atol=1 / 127.5, rtol=0)
    # Labels are 10x10 on grid nodes, each the mean colour of its square.
    starts = node_starts(128, 8, 10).tolist()
    mask = loaded.mask[0, 0]
    found = 0
    assert starts  # a loop over nothing would pass
    for top in starts:
        for left in starts:
            if mask[top, left]:
                found += 1
                mean = reference[top : top + 10, left : left + 10].reshape(-1, 3).mean(0)
                assert np.abs(written[top + 4, left + 4, :3] - mean).max() <= 1
    assert found == 6 and mask.sum() == 600


@pytest.mark.parametrize(("side", "size", "label_size"), [(256, None, 5), (64, 512, 10)])
def test_hints_cli_scales_the_label_size_to_the_image(tmp_path, capsys, side, size, label_size):
    # Default label size: the paper's 10 px at 512 scaled to the labelled image (the reference,
    # or the reference resized to --size), the same rule as HintConfig.for_size in training.
    reference = np.random.default_rng(2).integers(0, 256, (side, side, 3), dtype=np.uint8)
    reference_path, hints_path = tmp_path / "ref.png", tmp_path / "hints.png"
    Image.fromarray(reference).save(reference_path)
    arguments = ["hints", str(reference_path), "-o", str(hints_path), "--count", "4", "--grid", "8"]
    assert main([*arguments, *(["--size", str(size)] if size else [])]) == 0
    capsys.readouterr()
    mask = np.asarray(Image.open(hints_path))[..., 3] > 0
    assert mask.shape == (size or side,) * 2
    assert mask.sum() == 4 * label_size**2
    # Four whole label_size squares at grid nodes hold every label pixel.
    starts = node_starts(size or side, 8, label_size).tolist()
    squares = sum(
        bool(mask[top : top + label_size, left : left + label_size].all())
        for top in starts
        for left in starts
    )
    assert squares == 4


def test_reference_hints_draw_what_training_draws():
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    config = HintConfig(grid=4, max_labels=9, zero_fraction=0.3)
    color = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    for seed in range(6):
        hints, labels = reference_hints(image, config, seed=seed)
        training = sample_hints(color, config, torch.Generator().manual_seed(seed))
        assert torch.equal(hints.mask, training.mask) and torch.equal(hints.rgb, training.rgb)
        assert hints.mask.sum() == labels * 100


def test_hints_png_on_white_background_and_resize(tmp_path):
    image = np.full((40, 40, 3), 255, np.uint8)
    image[10:20, 20:30] = (0, 128, 0)
    path = tmp_path / "white.png"
    Image.fromarray(image).save(path)
    hints = load_hints(path, size=(80, 80))
    assert hints.mask.sum() == 400  # a 10x10 label doubled to 20x20
    assert hints.mask[0, 0, 20:40, 40:60].all()
    torch.testing.assert_close(hints.rgb[0, :, 30, 50], torch.tensor([-1.0, 128 / 127.5 - 1, -1.0]))
    assert (hints.rgb[0][:, hints.mask[0, 0] == 0] == 1).all()


def test_hints_json_places_labels_by_centre_and_scales(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text(
        json.dumps(
            {
                "width": 100,
                "height": 50,
                "labels": [
                    {"x": 50, "y": 25, "color": "#0000ff"},
                    {"x": 0, "y": 0, "color": "#ffffff"},
                ],
            }
        )
    )
    hints = load_hints(path, size=(100, 200))
    mask = hints.mask[0, 0]
    assert mask.sum() == 200
    assert mask[45:55, 95:105].all()  # centre (100, 50) after scaling by 2
    assert mask[0:10, 0:10].all()  # clamped inside the image
    torch.testing.assert_close(hints.rgb[0, :, 50, 100], torch.tensor([-1.0, -1.0, 1.0]))
    with pytest.raises(SketchcolorError, match='hint 0: needs "y"'):
        hints_from_json([{"x": 1}], (32, 32))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([{"x": float("nan"), "y": 1, "color": "#ff0000"}], '"x" must be a finite number, got nan'),
        ([{"x": 1, "y": "far", "color": "#ff0000"}], '"y" must be a finite number'),
        ([{"x": 1, "y": 2}], 'needs a "color"'),
        ([{"x": 1, "y": 2, "color": "red"}], "'red' is not a colour"),
        ([{"x": 40, "y": 2, "color": "#ff0000"}], r"\(40, 2\) is outside the 32x16 image"),
        ([{"x": -1, "y": 2, "color": "#ff0000"}], "outside"),
        ([5], "expected"),
        ({"width": 32, "labels": []}, 'needs "height"'),
        ({"labels": {"x": 1}}, "expected a list"),
    ],
)
def test_bad_hints_json_is_one_line_error(labels, message):
    with pytest.raises(SketchcolorError, match=message) as caught:
        hints_from_json(labels, (16, 16), source_size=(16, 32))
    assert "\n" not in str(caught.value)


def test_bad_hints_json_file_names_the_file(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text('[{"x": NaN, "y": 1, "color": "#ff0000"}]')
    with pytest.raises(SketchcolorError, match=f"^{path}: hint 0:"):
        load_hints(path, size=(16, 16))
    path.write_text("[{")
    with pytest.raises(SketchcolorError, match=f"^{path}: cannot read hints JSON"):
        load_hints(path, size=(16, 16))


def test_hints_cli_reports_a_missing_reference(tmp_path, capsys):
    code = main(["hints", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out.png")])
    assert code == 2
    assert "cannot read image" in capsys.readouterr().err
