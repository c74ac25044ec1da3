"""The generated CLI: --config files (YAML, TOML, a run's train_config.json), old flag
spellings and fast --help (tests/test_docs.py parses every command of README.md and docs/).

Usage: python -m pytest tests/cli/test_cli.py -q
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sketchcolor import cli
from sketchcolor.cli.train import parse_train_config
from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.errors import SketchcolorError

REPO = Path(__file__).resolve().parents[2]


def test_a_yaml_config_gives_defaults_and_flags_override_it():
    config = parse_train_config(
        ["--config", str(REPO / "launch/configs/paper.yaml"), "--data", "d", "--out", "o",
         "--model", "2.1", "--lr", "1e-3", "--hint-grid", "7"]
    )  # fmt: skip
    assert (config.optim.mixed_precision, config.optim.batch_size) == ("bf16", 16)
    assert (config.model.name, config.optim.lr, config.hints.grid) == ("2.1", 1e-3, 7)
    assert config.loader.num_workers == 8 and config.optim.betas == (0.5, 0.999)
    # Options the file leaves out keep the tree's defaults: label_size None scales with size.
    assert config.hints.label_size is None and config.model.color_control == "none"


def test_a_toml_config_and_a_runs_train_config_round_trip(tmp_path):
    smoke = parse_train_config(
        ["--config", str(REPO / "launch/configs/cpu-smoke.toml"), "--data", "d", "--out", "o"]
    )
    assert (smoke.model.size, smoke.loader.backend, smoke.loss.feature_loss) == (
        256,
        "torch",
        False,
    )
    saved = tmp_path / "train_config.json"
    smoke.save(saved)
    again = parse_train_config(["--config", str(saved)])
    assert again == smoke
    changed = parse_train_config(["--config", str(saved), "--size", "512", "--no-resume"])
    assert changed.model.size == 512 and changed.optim == smoke.optim


def test_an_old_flat_train_config_still_loads(tmp_path):
    old = tmp_path / "train_config.json"
    old.write_text(
        '{"data": "d", "out": "o", "model": "2.1", "color_control": "hints", "hint_grid": 8, '
        '"hint_label_size": null, "size": 256, "lr": 0.001, "betas": [0.4, 0.9], '
        '"pixel_weight": 10.0, "feature_loss": false, "loader_backend": "torch", "sample_every": 0}'
    )
    config = TrainConfig.load(old)
    assert (config.model.name, config.model.color_control, config.model.size) == (
        "2.1",
        "hints",
        256,
    )
    assert (config.hints.grid, config.hints.label_size, config.optim.betas) == (8, None, (0.4, 0.9))
    assert config.loss.weights.pixel == 10.0 and not config.loss.feature_loss
    assert (config.loader.backend, config.output.sample_every, config.optim.lr) == (
        "torch",
        0,
        1e-3,
    )


def test_config_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  batch_size: 4\n  learning_rate: 1\n")
    assert cli.main(["train", "--config", str(bad), "--data", "d", "--out", "o"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("sketchcolor train: error: ") and "learning_rate" in error
    assert cli.main(["train", "--config", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: not a readable config" in capsys.readouterr().err
    assert cli.main(["synth", str(tmp_path), "--count", "0"]) == 2
    assert "count must be at least 1" in capsys.readouterr().err


def test_the_hint_section_is_the_one_hint_config():
    config = TrainConfig(data=Path("d"), out=Path("o"))
    assert isinstance(config.hints, HintConfig)
    resolved = HintConfig.for_size(256, **config.hints.to_dict())
    assert resolved.label_size == 5 and resolved.grid == 40
    with pytest.raises(SketchcolorError, match="unknown option"):
        TrainConfig.from_flat(data="d", out="o", hint_colour=3)


HELP_SCRIPT = """
import contextlib, io, sys
from sketchcolor.cli import main
text = io.StringIO()
with contextlib.redirect_stdout(text):
    try:
        main(sys.argv[1:])
    except SystemExit as stop:
        assert stop.code in (0, None), stop.code
heavy = [name for name in ("torch", "gradio") if name in sys.modules]
print(text.getvalue())
print("heavy modules imported:", heavy)
"""


@pytest.mark.parametrize(
    "command", ["", *(module.NAME for module in cli.COMMAND_MODULES)], ids=lambda c: c or "top"
)
def test_help_imports_neither_torch_nor_gradio(command):
    """`sketchcolor --help` and `sketchcolor COMMAND --help` print text only: the heavy
    modules are imported inside each command's `run`, so help answers at once."""
    arguments = [command, "--help"] if command else ["--help"]
    result = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT, *arguments],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    assert result.stdout.rstrip().endswith("heavy modules imported: []"), result.stdout[-300:]
    assert result.stdout.startswith(f"usage: sketchcolor {command}".rstrip())
    if not command:
        assert all(module.NAME in result.stdout for module in cli.COMMAND_MODULES)


LONG_OUTPUT_SCRIPT = """
import sys
from sketchcolor.cli import main, models
models.run = lambda options: print("\\n".join(map(str, range(200_000)))) or 0  # ~1.3 MB
sys.exit(main(["models"]))
"""


def first_line_then_close(command: list[str], stderr_path: Path) -> tuple[bytes, int, str]:
    """Run `command`, read its first stdout line and close the pipe, as `| head -1` does.

    The pipe is shrunk to one page first, so the command is still writing when the reader
    leaves (its help or output is longer), whatever the timing."""
    import fcntl
    import os

    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 4096)
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdout=write_end, stderr=stderr, cwd=REPO)
    os.close(write_end)
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(read_end, 1)
        if not byte:
            break
        line += byte
    os.close(read_end)
    return line, process.wait(timeout=120), stderr_path.read_text()


@pytest.mark.parametrize(
    ("command", "first"),
    [
        (["-m", "sketchcolor", "train", "--help"], b"usage: sketchcolor train"),
        (["-m", "sketchcolor.train", "--help"], b"usage: sketchcolor train"),
        (["-c", LONG_OUTPUT_SCRIPT], b"0\n"),
    ],
    ids=["help", "python -m sketchcolor.train", "long output"],
)
def test_a_closed_pipe_ends_the_command_quietly(command, first, tmp_path):
    line, status, stderr = first_line_then_close([sys.executable, *command], tmp_path / "err")
    assert line.startswith(first)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr
    assert status == cli.BROKEN_PIPE_STATUS == 141


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "--data", "d", "--bogus-flag", "3"],
         # The word after an option the command does not know may be a secret: not repeated.
         "Missing from sketchcolor train: --out PATH; Unrecognized options: --bogus-flag, ***"),
        (["train", "--data", "d", "--out", "o", "--batch-size", "abc"],
         "Error parsing --batch-size: invalid literal for int() with base 10: 'abc'"),
        (["colorize"], "Missing from sketchcolor colorize: --run PATH, -o PATH, --out PATH"),
        (["train", "--data", "d", "--out", "o", "--mixed-precision", "fp8"],
         "invalid choice 'fp8' for argument '--mixed-precision'. Expected one of ("),
    ],
)  # fmt: skip
def test_a_bad_command_line_is_one_line_naming_what_is_wrong(arguments, message, capsys):
    assert cli.main(arguments) == 2
    command = f"sketchcolor {arguments[0]}"
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.endswith(f" (see {command} --help)\n")
    if message.endswith("("):  # choices listed in an order tyro does not fix
        assert error.startswith(f"{command}: error: {message}")
        assert all(f"'{choice}'" in error for choice in ("bf16", "fp16", "no", "None"))
    else:
        assert error == f"{command}: error: {message} (see {command} --help)\n"


def test_help_is_still_tyros_full_text(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["colorize", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sketchcolor colorize") and "--run PATH" in out


def test_dont_use_mmap_reaches_the_training_loader(shard_dir, tmp_path, monkeypatch):
    """`train --dont-use-mmap` (network file systems) is handed to the training loader."""
    import sketchcolor.training.loop as loop

    config = parse_train_config(["--data", str(shard_dir), "--out", str(tmp_path / "run"),
                                 "--dont-use-mmap", "--no-verify"])  # fmt: skip
    assert config.loader.dont_use_mmap is True
    assert parse_train_config(["--data", "d", "--out", "o"]).loader.dont_use_mmap is False
    seen = {}

    def refuse(*arguments, **options):
        seen.update(options)
        raise SketchcolorError("stop after the loader's options")

    monkeypatch.setattr(loop, "create_loader", refuse)
    with pytest.raises(SketchcolorError, match="stop after the loader's options"):
        loop.train(config)
    assert seen["dont_use_mmap"] is True and seen["split"] == "train"
