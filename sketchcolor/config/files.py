"""Reading configuration files: JSON (train_config.json), YAML or TOML, nested or the old
flat layout, into the dataclasses of this package; and the tree as flat dotted names.

Usage: values = read_config_values(TrainConfig, Path("launch/configs/small-run.toml"))
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

from sketchcolor.errors import SketchcolorError

# --- reading configs: JSON (train_config.json), YAML or TOML, nested or the old flat layout


def parse_problem(error: Exception) -> str:
    """What is wrong with a config file, in one line that quotes none of its text (a config may
    hold a password: YAML's messages show the offending line)."""
    problem, mark = getattr(error, "problem", None), getattr(error, "problem_mark", None)
    if problem is not None:  # yaml.MarkedYAMLError
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{problem}{where}"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def read_config_file(path: Path) -> dict:
    """The values in a .json, .yaml/.yml or .toml file, as a dict."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        elif path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except Exception as error:  # OSError, JSON/TOML ValueErrors, yaml.YAMLError
        raise SketchcolorError(f"{path}: not a readable config ({parse_problem(error)})") from None
    if not isinstance(values, dict):
        raise SketchcolorError(f"{path}: a config must be a mapping of option names to values")
    return values


def read_config_values(cls: type, path: Path) -> dict:
    """The keyword arguments of `cls` from a config file; sections become their dataclasses."""
    values = read_config_file(path)
    legacy = getattr(cls, "from_flat_layout", None)  # TrainConfig's files before the tree
    if legacy and not any(isinstance(value, dict) for value in values.values()):
        values = legacy(values)
    try:
        return build_fields(cls, values)
    except (TypeError, ValueError) as error:
        raise SketchcolorError(f"{path}: {error}") from error


def template(cls: type, values: dict):
    """An instance of `cls` holding `values`; required fields not in them are tyro.MISSING."""
    import tyro

    missing = {
        item.name: tyro.MISSING
        for item in dataclasses.fields(cls)
        if item.name not in values
        and item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
    }
    return cls(**values, **missing)


def is_template(config) -> bool:
    import tyro

    return any(getattr(config, item.name) is tyro.MISSING for item in dataclasses.fields(config))


def build_fields(cls: type, values: dict) -> dict:
    hints = typing.get_type_hints(cls, include_extras=False)
    known = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}")
    fields = {item.name: item for item in dataclasses.fields(cls)}
    built = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            # A section's options not in the file keep the section's own default (for the
            # hints of a training run, label_size None: scaled to the image size).
            factory = fields[name].default_factory
            base = factory() if factory is not dataclasses.MISSING else None
            section = build_fields(kind, value)
            value = dataclasses.replace(base, **section) if base is not None else kind(**section)
        elif isinstance(value, list):
            value = tuple(value)
        built[name] = value
    return built


def jsonable(value):
    if isinstance(value, dict):
        return {name: jsonable(item) for name, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [jsonable(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"model": {"name": "1"}} -> {"model.name": "1"} (for comparisons and TensorBoard)."""
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat
