"""Colorize with a reference picture on a tiny trained run of the reference control: any
reference size, shape or mode, flat colours from the reference's own, a folder of frames with
an unreadable one, the chain's order, and every error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketchcolor.cli import main
from sketchcolor.data.controls.reference import reference_colors
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorize import colorize
from sketchcolor.inference.controls import UserControls
from tests.support.runs import train_tiny_run

REFERENCE_COLOURS = [(255, 255, 255), (214, 48, 49), (9, 132, 227), (253, 203, 110)]
BOXES = [(20, 20, 120, 120), (140, 30, 240, 200), (30, 150, 110, 240)]  # x0, y0, x1, y1


@pytest.fixture(scope="module")
def runs(shard_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference_runs")
    return {"reference": train_tiny_run(shard_dir, root / "reference", "R", "reference"),
            "hints": train_tiny_run(shard_dir, root / "hints", "1", "hints")}  # fmt: skip


def write_frame(path, shift: int = 0):
    """Three outlined boxes on white, moved right by `shift` px."""
    image = Image.new("L", (256, 256), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in BOXES:
        draw.rectangle((x0 + shift, y0, x1 + shift, y1), outline=0, width=3)
    image.save(path)
    return path


def write_reference(path, size=(256, 256), mode="RGB"):
    """The boxes filled with flat colours, the ground white, outlined in black."""
    image = Image.new("RGB", (256, 256), REFERENCE_COLOURS[0])
    draw = ImageDraw.Draw(image)
    for colour, box in zip(REFERENCE_COLOURS[1:], BOXES, strict=True):
        draw.rectangle(box, fill=colour, outline=(0, 0, 0), width=3)
    image.resize(size, Image.NEAREST).convert(mode).save(path)
    return path


def box_centres(path) -> list[tuple[int, ...]]:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return [tuple(int(v) for v in pixels[(y0 + y1) // 2, (x0 + x1) // 2])
            for x0, y0, x1, y1 in BOXES]  # fmt: skip


@pytest.mark.parametrize(("size", "mode"), [((256, 256), "RGB"), ((300, 140), "RGB"),
                                            ((64, 64), "L"), ((200, 200), "RGBA")])  # fmt: skip
def test_any_reference_colours_the_sketch_and_flattening_takes_only_its_colours(
    runs, tmp_path, size, mode
):
    sketch = write_frame(tmp_path / "sketch.png")
    reference = write_reference(tmp_path / f"reference.{'png'}", size, mode)
    out = tmp_path / "out.png"
    colorize(sketch, runs["reference"], out, reference=reference, flatten=True, device="cpu")
    assert Image.open(out).size == (256, 256)
    allowed = {tuple(int(v) for v in c)
               for c in reference_colors(np.asarray(Image.open(reference).convert("RGB")))}  # fmt: skip
    assert set(box_centres(out)) <= allowed, (box_centres(out), allowed)


def test_a_reference_run_and_a_reference_must_go_together(runs, tmp_path):
    sketch, reference = write_frame(tmp_path / "s.png"), write_reference(tmp_path / "r.png")
    out = tmp_path / "out.png"
    with pytest.raises(
        SketchcolorError, match="trained with colour control 'reference'.*--reference"
    ):
        colorize(sketch, runs["reference"], out, device="cpu")
    with pytest.raises(SketchcolorError, match="colour control 'hints'; it takes no reference"):
        colorize(sketch, runs["hints"], out, reference=reference, device="cpu")
    with pytest.raises(SketchcolorError, match="no such reference image"):
        colorize(sketch, runs["reference"], out, reference=tmp_path / "none.png", device="cpu")
    with pytest.raises(SketchcolorError, match="--chain needs --reference KEYFRAME"):
        colorize(sketch, runs["reference"], out, chain=True, device="cpu")
    assert not out.exists()


def test_a_folder_with_an_unreadable_frame_names_it_and_writes_the_others(runs, tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in (1, 10):
        write_frame(frames / f"frame-{number}.png", shift=number)
    (frames / "frame-2.png").write_bytes(b"not a picture")
    reference = write_reference(tmp_path / "key.png")
    status = main(["colorize", str(frames), "--run", str(runs["reference"]), "-o",
                   str(tmp_path / "out"), "--reference", str(reference), "--chain"])  # fmt: skip
    assert status != 0
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 of 3 frames not coloured, the other 2 written" in error and "frame-2.png" in error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frame-1.png", "frame-10.png"]


def test_a_chain_colours_frames_in_order_each_from_the_last_keeping_the_keyframes_colours(
    runs, tmp_path, monkeypatch
):
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in (10, 2, 1):  # written out of order; natural order is 1, 2, 10
        write_frame(frames / f"f{number}.png", shift=2 * number)
    reference = write_reference(tmp_path / "key.png", (180, 180))
    given = []
    original = UserControls.with_reference

    def spy(self, picture, *, keep_colors=False):
        given.append((picture.copy(), keep_colors))
        return original(self, picture, keep_colors=keep_colors)

    monkeypatch.setattr(UserControls, "with_reference", spy)
    written = colorize(frames, runs["reference"], tmp_path / "chained", reference=reference,
                       chain=True, flatten=True, device="cpu")  # fmt: skip
    assert [p.name for p in written] == ["f1.png", "f2.png", "f10.png"]
    # The keyframe, then each written frame but the last, as the next one's reference.
    assert len(given) == 3 and given[0][1] is False and all(keep for _, keep in given[1:])
    for (picture, _), previous in zip(given[1:], written[:2], strict=True):
        assert np.array_equal(picture, np.asarray(Image.open(previous).convert("RGB")))
    keyframe = {
        tuple(c) for c in reference_colors(np.asarray(Image.open(reference).convert("RGB")))
    }
    for path in written:  # flattened to the keyframe's colours all along the chain
        assert set(box_centres(path)) <= keyframe
