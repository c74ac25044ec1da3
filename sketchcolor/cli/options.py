"""Command lines generated from options dataclasses (tyro), with `--config FILE` for defaults.

Usage: config = parse_options(TrainConfig, ["--data", "shards", "--out", "runs/a"], prog="sketchcolor train", description="...")
"""

from __future__ import annotations

from collections.abc import Sequence

from sketchcolor.errors import SketchcolorError

CONFIG_NOTE = "--config FILE (.yaml, .toml or .json) sets the defaults; flags override it."


def take_config_flag(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """`argv` without `--config FILE` / `--config=FILE`, and FILE (None when not given)."""
    rest, config_file, items = [], None, iter(argv)
    for item in items:
        if item == "--config":
            config_file = next(items, None)
            if config_file is None:
                raise SketchcolorError("--config needs a file name")
        elif item.startswith("--config="):
            config_file = item.split("=", 1)[1]
        else:
            rest.append(item)
    return rest, config_file


def parse_options(cls: type, argv: Sequence[str], *, prog: str, description: str):
    """An instance of the options dataclass `cls` from `argv` (and its --config file)."""
    import tyro

    from sketchcolor.config import read_config_values, template

    argv, config_file = take_config_flag(argv)
    default = tyro.MISSING_NONPROP
    if config_file is not None:
        default = template(cls, read_config_values(cls, config_file))
    return tyro.cli(
        cls, args=argv, prog=prog, description=f"{description}\n\n{CONFIG_NOTE}", default=default
    )
