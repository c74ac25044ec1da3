"""The run folder's readers (sketchcolor/runs.py): config.json as a typed RunConfig (older
folders with the defaults the code used before), train_config.json, progress.json, and a
checkpoint's config from those two.

Usage: python -m pytest tests/test_runs.py -q
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.models import create_generator, save_generator
from sketchcolor.runs import (
    TRAIN_CONFIG_FILE,
    UNRECORDED_IMAGE_SIZE,
    RunConfig,
    TrainingProgress,
    image_size_of,
    images_seen_at,
    load_run,
    read_checkpoint_config,
    read_progress,
    read_run_config,
    read_train_config,
    write_progress,
)

WIDTH = 1 / 16


def saved_run(folder: Path, model: str = "1", **metadata) -> Path:
    """A run folder as export_generator writes it (random weights), Model `model`, hints."""
    hint_config = HintConfig.for_size(256, grid=8)
    generator = create_generator(model, in_channels=3, width=WIDTH, upsampling="resize")
    metadata = {"color_control": "hints", "hint_config": hint_config.to_dict(),
                "image_size": 256, "ema": True, "step": 7, **metadata}  # fmt: skip
    return save_generator(generator, folder, metadata=metadata)


def test_a_run_config_round_trips_through_config_json(tmp_path):
    run = saved_run(tmp_path / "run")
    config = read_run_config(run)
    assert config == RunConfig(
        model="1", color_control="hints", in_channels=3, width=WIDTH, upsampling="resize",
        dropout=0.5, hint_config=HintConfig.for_size(256, grid=8), image_size=256, ema=True,
        step=7, images_seen=None, format="sketchcolor-generator/1",
    )  # fmt: skip
    assert config.hint_config.label_size == 5 and config.hint_config.grid == 8
    assert config.to_dict() == json.loads((run / "config.json").read_text())
    assert RunConfig.from_dict(config.to_dict(), "again") == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.step = 8  # type: ignore[misc]


def test_an_old_config_json_loads_with_the_defaults_used_before(tmp_path):
    """A folder from before upsampling was an option, and with only the metadata hand-made
    folders give (tests/support/runs.py's constant_run): no hint_config, image_size, ema, step."""
    generator = create_generator("2.1", in_channels=30, width=WIDTH)  # transposed, as then
    run = save_generator(generator, tmp_path / "old", metadata={"color_control": "palette"})
    values = json.loads((run / "config.json").read_text())
    del values["upsampling"]
    (run / "config.json").write_text(json.dumps(values))

    config = read_run_config(run)
    assert (config.model, config.color_control, config.in_channels) == ("2.1", "palette", 30)
    assert config.upsampling == "transposed" and config.dropout is None
    assert config.hint_config == HintConfig()
    assert config.image_size is None and config.ema is False
    assert config.step is None and config.images_seen is None
    assert "upsampling" not in json.loads((run / "config.json").read_text())
    # The size: the shards' half size for evaluation, 512 for colorize, as before.
    shards = tmp_path / "shards"
    shards.mkdir()
    manifest = {"format": "sketchcolor-shards/1", "half_size": 128, "splits": {}}
    (shards / "manifest.json").write_text(json.dumps(manifest))
    assert image_size_of(config, shards) == 128
    assert image_size_of(config) == UNRECORDED_IMAGE_SIZE == 512
    (shards / "manifest.json").write_text(json.dumps({**manifest, "half_size": None}))
    with pytest.raises(SketchcolorError, match="records no image_size and the shards keep"):
        image_size_of(config, shards)
    generator, loaded = load_run(run, torch.device("cpu"))
    assert loaded == config and not generator.training


def test_foreign_or_newer_config_json_is_a_one_line_error(tmp_path):
    run = saved_run(tmp_path / "run")
    values = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**values, "colour_space": "lab"}))
    with pytest.raises(SketchcolorError, match="unknown key.s. colour_space; written by a newer"):
        read_run_config(run)
    del values["color_control"]
    (run / "config.json").write_text(json.dumps(values))
    with pytest.raises(SketchcolorError, match="has no 'color_control'; not a run folder"):
        read_run_config(run)
    with pytest.raises(SketchcolorError, match="no such run folder"):
        read_run_config(tmp_path / "nowhere")


def test_progress_json_round_trips_and_an_old_one_takes_defaults(tmp_path):
    progress = TrainingProgress(step=12, epoch=1, batch_in_epoch=3, images_seen=48)
    write_progress(tmp_path, progress)
    assert read_progress(tmp_path) == progress
    (tmp_path / "progress.json").write_text('{"step": 5, "epoch": 0, "batch_in_epoch": 2}')
    assert read_progress(tmp_path) == TrainingProgress(step=5, batch_in_epoch=2, images_seen=0)
    (tmp_path / "progress.json").write_text('{"step": 5, "when": "now"}')
    with pytest.raises(SketchcolorError, match="progress.json: not a progress file"):
        read_progress(tmp_path)
    (tmp_path / "progress.json").write_text("")
    with pytest.raises(SketchcolorError, match="progress.json: not a progress file"):
        read_progress(tmp_path)


def test_a_checkpoint_config_comes_from_train_config_and_progress(tmp_path):
    run = tmp_path / "run"
    assert read_train_config(run) is None
    train_config = TrainConfig.from_flat(data=tmp_path / "shards", out=run, model="2.1",
                                         color_control="mixed", size=256, width=WIDTH, ema=True,
                                         hint_encoding="channels", batch_size=3)  # fmt: skip
    run.mkdir()
    train_config.save(run / TRAIN_CONFIG_FILE)
    assert read_train_config(run) == train_config
    checkpoint = run / "checkpoints" / "step-30"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"")
    write_progress(checkpoint, TrainingProgress(step=30, images_seen=90))

    config = read_checkpoint_config(checkpoint)
    assert (config.model, config.color_control, config.width) == ("2.1", "mixed", WIDTH)
    assert config.in_channels == 34  # sketch 3 + hint RGB 3 + mask 1 + palette 27
    assert config.image_size == 256 and config.ema is True and config.format is None
    assert config.hint_config.encoding == "channels" and config.hint_config.label_size == 5
    assert (config.step, config.images_seen) == (30, 90)
    assert config.generator_options() == {"in_channels": 34, "width": WIDTH,
                                          "upsampling": "transposed"}  # fmt: skip
    assert images_seen_at(run, 30) == 90 and images_seen_at(run, 20) is None

    (run / TRAIN_CONFIG_FILE).unlink()
    with pytest.raises(SketchcolorError, match="train_config.json: not found"):
        read_checkpoint_config(checkpoint)
