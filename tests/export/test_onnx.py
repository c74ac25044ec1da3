"""ONNX export and the onnxruntime engine: every generator x colour control equals PyTorch on
val sketches at two sizes and two batch sizes; the metadata; the CLI; int8; the refusals.

Usage: python -m pytest -q tests/export/test_onnx.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sketchcolor.cli import main
from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import input_channels
from sketchcolor.errors import SketchcolorError
from sketchcolor.models import create_generator, save_generator
from sketchcolor.runs import sample_fixed_hints
from sketchcolor.util.files import file_sha256

onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e '.[onnx]'")

from sketchcolor.data.controls.reference import fixed_reference  # noqa: E402
from sketchcolor.export.onnx import export_onnx  # noqa: E402
from sketchcolor.inference.engines import load_engine  # noqa: E402
from sketchcolor.inference.onnx_graph import read_metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODELS = ("1", "2.1", "2.2", "3")
CONTROLS = ("none", "palette", "hints", "mixed")
TOLERANCE = 1e-4
BATCHES = (1, 3)
# An export takes 10-90 s on 2 cores (torch.export), so every model is checked with "mixed"
# (all four inputs) and Model 1 with every other control: each model and each control at
# least once (7 exports, 3 min). SKETCHCOLOR_ONNX_FULL_MATRIX=1 checks all 16 pairs (8 min
# more), for a change to the export itself.
FULL_MATRIX = os.environ.get("SKETCHCOLOR_ONNX_FULL_MATRIX") == "1"
PAIRS = [(model, control) for model in MODELS for control in CONTROLS
         if FULL_MATRIX or control == "mixed" or model == "1"] + [("R", "reference")]  # fmt: skip
PAIRS.append(("1+heads", "hints"))  # the recipe's output: colour classes and the copy gate
HEADS = {"classes": 8, "copy_channels": [3, 4, 5, 6]}


def hint_config_for(model: str, control: str, size: int) -> HintConfig:
    """Both hint encodings and the region spreading (outside the graph) get covered."""
    encoding = "channels" if control == "mixed" or model in ("2.2", "3", "1+heads") else "overlay"
    spread = "regions" if (model, control) == ("1", "hints") else "none"
    return HintConfig.for_size(size, encoding=encoding, spread=spread, grid=8, label_size=16)


def make_run(folder: Path, model: str, control: str) -> Path:
    """A run folder as training exports it (config.json + generator.safetensors), with random
    weights and, for Model 1, BatchNorm statistics that are not the identity."""
    torch.manual_seed(0)
    name, head = model.removesuffix("+heads"), HEADS if model.endswith("+heads") else None
    probe = create_generator(name, width=1 / 16)
    size = probe.size_multiple  # the smallest size the model takes
    hint_config = hint_config_for(model, control, size)
    generator = create_generator(name, in_channels=input_channels(control, hint_config),
                                 width=1 / 16, head=head)  # fmt: skip
    if head is not None:
        generator.head.codebook.uniform_(-1, 1)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    metadata = {"color_control": control, "hint_config": hint_config.to_dict(),
                "image_size": size, "ema": False, "step": 2}  # fmt: skip
    return save_generator(generator, folder, metadata=metadata)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, control) -> its run folder, exported to RUN/generator.onnx on first use.

    SKETCHCOLOR_TEST_EXPORTS names a folder that keeps the exports for a second pytest run of
    the same tree (.ci/run's AVX2 pass: the graph does not depend on the CPU, the numbers do).
    """
    shared = os.environ.get("SKETCHCOLOR_TEST_EXPORTS")
    root = Path(shared) if shared else tmp_path_factory.mktemp("onnx_runs")
    done: dict[tuple[str, str], Path] = {}

    def get(model: str, control: str) -> Path:
        if (model, control) not in done:
            run = root / f"m{model}-{control}"
            if not (run / "generator.onnx").is_file():
                make_run(run, model, control)
                export_onnx(run, check=False)  # the tests compare themselves, on real sketches
            done[model, control] = run
        return done[model, control]

    return get


def val_batch(shard_dir: Path, size: int) -> dict:
    from sketchcolor.data.loading.loader import create_loader

    loader = create_loader(shard_dir, split="val", image_size=size, batch_size=max(BATCHES),
                           backend="torch", training=False, num_workers=0)  # fmt: skip
    return next(iter(loader.epoch(0)))


@pytest.mark.precision
@pytest.mark.parametrize(("model", "control"), PAIRS)
def test_onnxruntime_equals_torch_on_val_sketches(exported, shard_dir, model, control):
    run = exported(model, control)
    torch_engine, config, hint_config = load_engine(run, "torch")
    onnx_engine, _, _ = load_engine(run, "onnxruntime")
    multiple = torch_engine.size_multiple
    assert onnx_engine.size_multiple == multiple
    batch = val_batch(shard_dir, 2 * multiple)
    errors = []
    for height, width in ((multiple, multiple), (multiple, 2 * multiple)):
        # (m, m): the val pairs scaled down; (m, 2m): their top halves, a wide canvas
        if width == height:
            sketch, color = (F.interpolate(batch[key], size=(height, width), mode="bilinear")
                             for key in ("sketch", "color"))  # fmt: skip
        else:
            sketch, color = batch["sketch"][..., :height, :], batch["color"][..., :height, :]
        hints = sample_fixed_hints(color, batch["key"], hint_config, seed=0, sketch=sketch)
        reference = fixed_reference(color, list(range(len(color))))  # reference runs only
        for size in BATCHES:
            part = type(hints)(rgb=hints.rgb[:size], mask=hints.mask[:size])
            args = (sketch[:size], batch["palette"][:size], part, reference[:size])
            expected, got = torch_engine(*args), onnx_engine(*args)
            assert got.shape == expected.shape == (size, 3, height, width)
            errors.append(float((got - expected).abs().max()))
    assert max(errors) <= TOLERANCE, errors


def test_metadata_says_how_to_feed_the_graph(exported):
    run = exported("2.1", "mixed")
    model = onnx.load(run / "generator.onnx")
    inputs = {value.name: value.type.tensor_type.shape.dim for value in model.graph.input}
    assert list(inputs) == ["sketch", "palette", "hint_rgb", "hint_mask"]
    sketch = [dim.dim_param or dim.dim_value for dim in inputs["sketch"]]
    assert sketch[0] == "batch" and sketch[1] == 3
    assert sketch[2:] == ["256*h", "256*w"]  # dynamic, in multiples of the size multiple
    assert [dim.dim_param or dim.dim_value for dim in inputs["palette"]] == ["batch", 9, 3]
    assert [value.name for value in model.graph.output] == ["color"]
    metadata = read_metadata(model)
    assert metadata["inputs"] == "sketch,palette,hint_rgb,hint_mask"
    assert metadata["size_multiple"] == "256" and metadata["precision"] == "float32"
    assert json.loads(metadata["config"]) == json.loads((run / "config.json").read_text())
    facts = json.loads(metadata["model_card"])
    assert facts["model"] == "2.1" and facts["color_control"] == "mixed"
    assert facts["hint_encoding"] == "channels" and facts["parameters"] > 0
    assert metadata["weights_sha256"] == file_sha256(run / "generator.safetensors")
    assert "multiples of 256" in model.doc_string
    onnx.checker.check_model(model, full_check=True)


# ----------------------------------------------------------------------------- a trained run


@pytest.fixture
def trained_run(served_runs, tmp_path) -> Path:
    """A copy of a real 2-step palette run (Model 1), so exports may write into it."""
    return Path(shutil.copytree(served_runs["palette"], tmp_path / "m1-palette"))


def write_sketch(path: Path, height: int, width: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = np.full((height, width), 255, np.uint8)
    pixels[rng.random((height, width)) < 0.1] = 0
    Image.fromarray(pixels).save(path)
    return path


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path)).astype(np.int16)


def test_export_cli_and_colorize_engine_onnxruntime_match_torch(trained_run, tmp_path, capsys):
    out = tmp_path / "m1-palette.onnx"
    assert main(["export", str(trained_run), "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "inputs sketch, palette" in printed
    metadata = read_metadata(onnx.load(out))
    train_config = json.loads(metadata["train_config"])
    assert train_config["model"]["name"] == "1" and json.loads(metadata["model_card"])["step"] == 2
    sketch = write_sketch(tmp_path / "sketch.png", 200, 300)  # scaled, padded, cropped back
    common = ["colorize", str(sketch), "--run", str(trained_run), "--palette", "#ff0000,#00ff00"]
    assert main([*common, "-o", str(tmp_path / "torch.png")]) == 0
    assert main([*common, "-o", str(tmp_path / "ort.png"), "--engine", "onnxruntime",
                 "--onnx", str(out)]) == 0  # fmt: skip
    difference = np.abs(read_png(tmp_path / "torch.png") - read_png(tmp_path / "ort.png"))
    assert read_png(tmp_path / "ort.png").shape == (200, 300, 3)
    assert difference.max() <= 1  # 8-bit rounding of outputs equal within 1e-4


def test_engine_uses_the_runs_current_export_and_refuses_a_stale_file(trained_run, tmp_path):
    export_onnx(trained_run)  # RUN/generator.onnx
    engine, _, _ = load_engine(trained_run, "onnxruntime")
    assert engine.session is not None
    other = tmp_path / "other"
    make_run(other, "1", "palette")
    with pytest.raises(SketchcolorError, match="exported from other weights"):
        load_engine(other, "onnxruntime", onnx=trained_run / "generator.onnx")


def test_int8_export_is_quantized_calibrated_and_close_to_fp32(trained_run, shard_dir, capsys):
    assert main(["export", str(trained_run), "--int8", "--calibration-images", "4"]) == 0
    int8_path = trained_run / "generator.int8.onnx"
    assert "int8" in capsys.readouterr().out
    model = onnx.load(int8_path)
    operators = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    metadata = read_metadata(model)
    assert metadata["precision"] == "int8" and metadata["calibration"].startswith("4 val")
    assert [value.name for value in model.graph.input] == ["sketch", "palette"]
    fp32, _, _ = load_engine(trained_run, "torch")
    int8, _, _ = load_engine(trained_run, "onnxruntime", onnx=int8_path)
    batch = val_batch(shard_dir, 256)
    expected = fp32(batch["sketch"][:2], batch["palette"][:2], None)
    got = int8(batch["sketch"][:2], batch["palette"][:2], None)
    assert got.shape == expected.shape
    assert 0 < float((got - expected).abs().mean()) < 0.05  # quantized, and still the same model


# ----------------------------------------------------------------------------- refusals


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "Traceback" not in error
    return error


def test_refusals_are_one_line(served_runs, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in one_line_error(capsys)
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(served_runs["palette"] / "config.json", no_weights)
    assert main(["export", str(no_weights)]) == 2
    assert "generator.safetensors: not found" in one_line_error(capsys)
    assert main(["export", str(served_runs["palette"]), "--opset", "99"]) == 2
    assert "onnxruntime" in one_line_error(capsys)
    assert main(["export", str(served_runs["palette"]), "--opset", "11"]) == 2
    assert "opset 18 or later" in one_line_error(capsys)
    out = tmp_path / "x.png"
    assert main(["export", str(served_runs["palette"]), "--onnx", str(out)]) == 2
    assert ".onnx suffix" in one_line_error(capsys)
    assert not (served_runs["palette"] / "generator.onnx").exists()  # nothing written


def test_without_onnxruntime_the_engine_names_the_install(served_runs, tmp_path, capsys,
                                                          monkeypatch):  # fmt: skip
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    sketch = write_sketch(tmp_path / "sketch.png", 64, 64)
    assert main(["colorize", str(sketch), "--run", str(served_runs["palette"]), "-o",
                 str(tmp_path / "o.png"), "--palette", "#ff0000", "--engine",
                 "onnxruntime"]) == 2  # fmt: skip
    assert "pip install -e '.[onnx]'" in one_line_error(capsys)
    assert main(["export", str(served_runs["palette"])]) == 2
    assert "pip install -e '.[onnx]'" in one_line_error(capsys)


def test_export_help_imports_no_torch():
    script = (
        "import sys\nfrom sketchcolor.cli import main\ntry:\n    main(['export', '--help'])\n"
        "except SystemExit:\n    pass\nprint('torch imported:', 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, check=True)  # fmt: skip
    assert "--int8" in result.stdout
    assert result.stdout.strip().endswith("torch imported: False")
