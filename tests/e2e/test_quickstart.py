"""The quickstart end to end through the real CLI, at the smallest settings it accepts."""

import json

import numpy as np
import pytest
from PIL import Image

from sketchcolor.cli import main


def test_quickstart_runs_every_step_and_reuses_its_folder(tmp_path, capsys):
    out = tmp_path / "quickstart"
    assert main(["quickstart", "--out", str(out), "--count", "20", "--steps", "2"]) == 0

    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["count"] == 18
    assert manifest["splits"]["val"]["count"] == 2
    assert manifest["rejected"] == []

    results = json.loads((out / "evaluation" / "results.json").read_text())
    runs = {(run["model"], run["color_control"]): run for run in results["runs"]}
    assert set(runs) == {("1", "none"), ("1", "palette"), ("1", "hints")}
    for run in runs.values():
        assert run["images"] == 2
        assert 0 < run["psnr"] < 60 and -1 <= run["ssim"] <= 1 and 0 < run["l1"] <= 2
    # No Inception weights here: FID is unavailable and says which file goes where.
    assert "pt_inception-2015-12-05-6726825d.pth" in results["fid_unavailable"]
    assert "| 1 |" in (out / "evaluation" / "results.md").read_text()
    # The comparison table and the one-line verdict on the targets.
    printed = capsys.readouterr().out
    assert "| 1 | hints |" in printed and "| 1 | palette |" in printed
    verdict = next(line for line in printed.splitlines() if "val L1 as targeted" in line)
    assert "model 1 hints" in verdict and "(target 15%:" in verdict and "(target 5%:" in verdict

    for name in ("model-1-none", "model-1-palette", "model-1-hints"):
        config = json.loads((out / "runs" / name / "config.json").read_text())
        assert config["image_size"] == 256
        assert (out / "runs" / name / "generator.safetensors").stat().st_size > 0

    # sketch | hints | output | truth for the 2 validation pairs: 4 columns, 2 rows of 256 px.
    picture = np.asarray(Image.open(out / "colorized.png").convert("RGB"))
    assert picture.shape[1] >= 4 * 256 and 2 * 256 <= picture.shape[0] < 3 * 256
    assert picture.shape[1] > 1.9 * picture.shape[0]

    # A second run finds the shards complete and the runs finished, and changes no weights.
    weights = (out / "runs" / "model-1-none" / "generator.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["quickstart", "--out", str(out), "--count", "20", "--steps", "2"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert (out / "runs" / "model-1-none" / "generator.safetensors").read_bytes() == weights


def test_quickstart_on_openmoji_adds_the_interactive_benchmark(tmp_path, capsys):
    pytest.importorskip("resvg_py", reason="the openmoji extra is not installed")
    out = tmp_path / "quickstart"
    code = main(["quickstart", "--data", "openmoji", "--out", str(out), "--count", "40",
                 "--steps", "2"])  # fmt: skip
    assert code == 0
    pairs = sorted((out / "openmoji" / "data").glob("*/*.png"))
    assert 20 < len(pairs) <= 40
    payload = json.loads((out / "interactive" / "results.json").read_text())
    names = {row["name"] for row in payload["rows"]}
    assert {"paint bucket", "model-1-hints", "model-1-hints + flatten"} <= names
    assert payload["hint_counts"] == [0, 1, 4, 16, 64]
    printed = capsys.readouterr().out
    assert "colour accuracy" in printed and "interactive benchmark in" in printed
