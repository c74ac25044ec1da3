"""The quickstart end to end through the real CLI, at the smallest settings it accepts."""

import json

import numpy as np
import pytest
from PIL import Image

from sketchcolor.cli import main


def test_quickstart_on_synth_runs_every_step_and_reuses_its_folder(tmp_path, capsys):
    out = tmp_path / "quickstart"
    arguments = ["quickstart", "--data", "synth", "--out", str(out), "--count", "20", "--steps",
                 "2", "--samples", "2"]  # fmt: skip
    assert main(arguments) == 0

    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["count"] == 18
    assert manifest["splits"]["val"]["count"] == 2
    assert manifest["rejected"] == []

    results = json.loads((out / "evaluation" / "results.json").read_text())
    runs = {(run["model"], run["color_control"]): run for run in results["runs"]}
    assert set(runs) == {("1", "hints"), ("1", "mixed")}
    for run in runs.values():
        assert run["images"] == 2
        assert 0 < run["psnr"] < 60 and -1 <= run["ssim"] <= 1 and 0 < run["l1"] <= 2
    # No Inception weights here: FID is unavailable, said once in a line naming the file.
    assert "pt_inception-2015-12-05-6726825d.pth" in results["fid_unavailable"]
    printed = capsys.readouterr().out
    fid_lines = [line for line in printed.splitlines() if "FID" in line]
    assert len(fid_lines) == 1 and "pt_inception-2015-12-05-6726825d.pth" in fid_lines[0]
    assert "n/a" not in printed
    l1 = next(line for line in printed.splitlines() if "val L1 per colour control" in line)
    assert f"hints {runs[('1', 'hints')]['l1']:.4f}" in l1
    assert f"mixed {runs[('1', 'mixed')]['l1']:.4f}" in l1
    # It ends with the next two commands.
    assert printed.rstrip().splitlines()[-2:] == [
        f"  sketchcolor serve {out / 'runs'}",
        f"  sketchcolor colorize path/to/sketch.png --run {out / 'runs' / 'model-1-hints'} "
        "-o colored.png --flatten",
    ]

    for name in ("model-1-hints", "model-1-mixed"):
        config = json.loads((out / "runs" / name / "config.json").read_text())
        assert config["image_size"] == 256 and config["upsampling"] == "resize"
        assert config["hint_config"]["shape"] == "strokes"
        assert config["hint_config"]["spread"] == "regions"
        assert (out / "runs" / name / "generator.safetensors").stat().st_size > 0

    # sketch | labels | output | truth for the 2 validation pairs: 4 columns, 2 rows of 256 px.
    picture = np.asarray(Image.open(out / "quickstart.png").convert("RGB"))
    assert picture.shape[1] >= 4 * 256 and 2 * 256 <= picture.shape[0] < 3 * 256

    # A second run finds the shards complete and the runs finished, and changes no weights.
    weights = (out / "runs" / "model-1-hints" / "generator.safetensors").read_bytes()
    capsys.readouterr()
    assert main(arguments) == 0
    assert "already complete" in capsys.readouterr().out
    assert (out / "runs" / "model-1-hints" / "generator.safetensors").read_bytes() == weights


def test_quickstart_on_openmoji_benchmarks_and_draws_the_front_picture(tmp_path, capsys):
    pytest.importorskip("resvg_py", reason="the openmoji extra is not installed")
    out = tmp_path / "quickstart"
    code = main(["quickstart", "--out", str(out), "--count", "40", "--steps", "2",
                 "--samples", "3", "--benchmark-images", "6"])  # fmt: skip
    assert code == 0
    pairs = sorted((out / "openmoji" / "data").glob("*/*.png"))
    assert 20 < len(pairs) <= 40
    payload = json.loads((out / "interactive" / "results.json").read_text())
    names = {row["name"] for row in payload["rows"]}
    assert {"paint bucket", "model-1-hints", "model-1-hints + flatten"} <= names
    assert {"model-1-mixed", "model-1-mixed + flatten"} <= names
    assert payload["hint_counts"] == [0, 4, 16, 64]
    printed = capsys.readouterr().out
    assert "colour accuracy" in printed.lower() and "| paint bucket |" in printed
    # sketch + labels | network | flat colours | paint bucket | truth, one row per sketch.
    picture = np.asarray(Image.open(out / "quickstart.png").convert("RGB"))
    assert picture.shape[1] == 5 * 256 and picture.shape[0] == 16 + 3 * 256
    truth = picture[16 : 16 + 256, 4 * 256 :]
    bucket = picture[16 : 16 + 256, 3 * 256 : 4 * 256]
    assert (truth < 200).any(axis=-1).mean() > 0.05  # a coloured emoji, not a blank tile
    assert not np.array_equal(truth, bucket)
