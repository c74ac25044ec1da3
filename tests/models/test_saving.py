"""Saving a generator as safetensors + config.json and loading it back from that folder alone."""

from __future__ import annotations

import json

import pytest
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.models import create_generator, list_generators, load_generator, save_generator
from sketchcolor.models.saving import CONFIG_FILE, WEIGHTS_FILE

TEST_WIDTH = 1 / 16
METADATA = {
    "color_control": "palette",
    "hint_config": {"grid": 40, "label_size": 10},
    "image_size": 512,
}


def trained_looking(generator):
    """Perturb every parameter and buffer so default initialisation cannot pass for loaded weights."""
    torch.manual_seed(1)
    with torch.no_grad():
        for tensor in [*generator.parameters(), *generator.buffers()]:
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn_like(tensor))
    return generator


@pytest.mark.parametrize("name", list_generators())
def test_save_and_load_reproduce_outputs_exactly(name, tmp_path):
    torch.manual_seed(0)
    generator = trained_looking(create_generator(name, in_channels=30, width=TEST_WIDTH)).eval()
    size = generator.size_multiple
    x = torch.randn(1, 30, size, size)
    with torch.no_grad():
        expected = generator(x)

    folder = save_generator(generator, tmp_path / "run", metadata=METADATA)
    assert (folder / WEIGHTS_FILE).is_file() and (folder / CONFIG_FILE).is_file()
    torch.manual_seed(123)  # a different initialisation, which loading must overwrite
    loaded, config = load_generator(folder)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), expected)
    assert loaded.config == generator.config
    assert config["model"] == name
    assert config["in_channels"] == 30 and config["width"] == TEST_WIDTH
    assert {key: config[key] for key in METADATA} == METADATA


def test_config_json_is_flat_and_readable(tmp_path):
    generator = create_generator("unet", in_channels=7, width=TEST_WIDTH, dropout=0.25)
    save_generator(generator, tmp_path, metadata={"color_control": "hints"})
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert config == {
        "model": "1",
        "in_channels": 7,
        "width": TEST_WIDTH,
        "dropout": 0.25,
        "upsampling": "transposed",
        "color_control": "hints",
        "format": "sketchcolor-generator/1",
    }
    loaded, _ = load_generator(tmp_path)
    assert loaded.config["dropout"] == 0.25


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SketchcolorError, match=r"config\.json: not found"):
        load_generator(tmp_path / "nowhere")


def test_corrupt_config_is_a_clear_error(tmp_path):
    (tmp_path / CONFIG_FILE).write_text("{ not json")
    with pytest.raises(SketchcolorError, match="not valid JSON"):
        load_generator(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"in_channels": 3}))
    with pytest.raises(SketchcolorError, match="no 'model' entry"):
        load_generator(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"model": "9"}))
    with pytest.raises(SketchcolorError, match="unknown generator '9'"):
        load_generator(tmp_path)


def test_missing_or_corrupt_weights_are_clear_errors(tmp_path):
    save_generator(create_generator("2.1", width=TEST_WIDTH), tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(SketchcolorError, match="cannot be read"):
        load_generator(tmp_path)
    weights.unlink()
    with pytest.raises(SketchcolorError, match="no weights"):
        load_generator(tmp_path)


def test_weights_that_do_not_match_the_config_are_a_clear_error(tmp_path):
    save_generator(create_generator("2.1", width=TEST_WIDTH), tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    config["width"] = 1 / 8
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(SketchcolorError, match="does not match config.json"):
        load_generator(tmp_path)


def test_metadata_may_not_override_the_generator_config(tmp_path):
    generator = create_generator("1", width=TEST_WIDTH)
    with pytest.raises(SketchcolorError, match="in_channels"):
        save_generator(generator, tmp_path, metadata={"in_channels": 30})
    assert not (tmp_path / CONFIG_FILE).exists()


def test_a_torch_compile_wrapper_saves_its_module(tmp_path):
    generator = create_generator("1", width=TEST_WIDTH)
    save_generator(torch.compile(generator), tmp_path)  # compiles nothing: no forward runs
    loaded, _ = load_generator(tmp_path)
    assert loaded.state_dict().keys() == generator.state_dict().keys()
