"""Synthetic pairs: Kaggle layout, colour left / sketch right, deterministic per seed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sketchcolor.cli import main


def _halves(path):
    pixels = np.asarray(Image.open(path).convert("RGB"))
    half = pixels.shape[1] // 2
    return pixels[:, :half], pixels[:, half:]


def test_layout_sizes_and_counts(tmp_path):
    assert main(["synth", str(tmp_path), "--count", "10", "--size", "32", "--seed", "1"]) == 0
    train = sorted((tmp_path / "data" / "train").glob("*.png"))
    val = sorted((tmp_path / "data" / "val").glob("*.png"))
    assert (len(train), len(val)) == (9, 1)
    for path in train + val:
        with Image.open(path) as image:
            assert image.size == (64, 32)
            assert image.mode == "RGB"


def test_color_left_sketch_right(synth_root):
    pairs = sorted((synth_root / "data" / "train").glob("*.png"))
    assert pairs  # a loop over nothing would pass
    for path in pairs:
        color, sketch = _halves(path)
        # The sketch is black lines on white paper: grey levels only, mostly white.
        assert np.array_equal(sketch[..., 0], sketch[..., 1])
        assert np.array_equal(sketch[..., 0], sketch[..., 2])
        assert (sketch == 255).all(axis=2).mean() > 0.6
        # Every line of the sketch is drawn in the colour half too (same outlines).
        lines = (sketch == 0).all(axis=2)
        assert lines.any()
        assert (color[lines] == 0).all()
        # Regions hold several distinct saturated colours that only the colour half carries.
        opaque = color[~lines]
        saturated = opaque.max(axis=1).astype(int) - opaque.min(axis=1) > 20
        assert len(np.unique(opaque[saturated], axis=0)) >= 4


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert (
            main(
                ["synth", str(tmp_path / name), "--count", "4", "--size", "32", "--seed", str(seed)]
            )
            == 0
        )
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 4
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert any(
        (tmp_path / "a" / file).read_bytes() != (tmp_path / "c" / file).read_bytes()
        for file in files
    )


def test_pair_depends_only_on_seed_and_index(tmp_path):
    main(["synth", str(tmp_path / "small"), "--count", "3", "--size", "32", "--val-fraction", "0"])
    main(["synth", str(tmp_path / "large"), "--count", "8", "--size", "32", "--val-fraction", "0"])
    for index in range(3):
        small = (tmp_path / "small" / "data" / "train" / f"{index}.png").read_bytes()
        large = (tmp_path / "large" / "data" / "train" / f"{index}.png").read_bytes()
        assert small == large


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["synth", str(tmp_path), "--count", "0"]) == 2
    assert "--count" in capsys.readouterr().err
    assert main(["synth", str(tmp_path), "--val-fraction", "1.5"]) == 2
