"""`sketchcolor serve` before it serves: the missing extra, its options and refused set-ups."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from sketchcolor.cli import main, serve
from sketchcolor.cli.options import parse_options


def test_without_gradio_the_command_names_the_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    assert main(["serve", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "sketchcolor serve: error: the web app needs gradio, an optional extra: "
        "pip install -e '.[ui]'"
    )


def test_cli_defaults_are_the_config_defaults(tmp_path):
    from sketchcolor.serve.app import ServeConfig

    argv = [str(tmp_path / "a"), str(tmp_path / "b")]
    args = parse_options(serve.options(), argv, prog="sketchcolor serve", description="")
    defaults = {f.name: f.default for f in dataclasses.fields(ServeConfig) if f.name != "runs"}
    assert args.runs == [tmp_path / "a", tmp_path / "b"]
    for name in ("host", "port", "device", "data", "max_pixels", "concurrency", "examples"):
        assert getattr(args, name) == defaults[name], name
    assert defaults["max_pixels"] == 4096 * 4096
    assert args == ServeConfig(runs=[tmp_path / "a", tmp_path / "b"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no such run folder"),
        (["--concurrency", "0"], "concurrency must be at least 1, got 0"),
        (["--max-pixels", "0"], "max pixels must be at least 1, got 0"),
        (["--data", "nowhere"], "nowhere: no manifest.json; not a shard folder"),
    ],
)
def test_bad_setups_are_one_line_errors_before_serving(tmp_path, capsys, monkeypatch, extra,
                                                       message):  # fmt: skip
    pytest.importorskip("gradio", reason="needs the ui extra")
    monkeypatch.chdir(tmp_path)
    assert main(["serve", str(tmp_path / "missing"), "--port", "1", *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_two_runs_with_one_name_are_refused(served_runs, tmp_path):
    import shutil

    from sketchcolor.errors import SketchcolorError
    from sketchcolor.serve.app import load_models

    twin = tmp_path / "elsewhere" / served_runs["hints"].name
    shutil.copytree(served_runs["hints"], twin)
    with pytest.raises(SketchcolorError, match="two runs are named 'hints'; rename one folder"):
        load_models([served_runs["hints"], twin], "cpu")
