"""Command lines generated from options dataclasses (tyro), with `--config FILE` for defaults.

Usage: config = parse_options(TrainConfig, ["--data", "shards", "--out", "runs/a"], prog="sketchcolor train", description="...")
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
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
    description = f"{description}\n\n{CONFIG_NOTE}"
    if "-h" in argv or "--help" in argv:
        return tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
    # tyro reports a bad command line as a box of many lines; the house style is one line.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), _wide_console():
            options = tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
    except SystemExit as stop:
        if stop.code in (0, None):
            raise
        raise SketchcolorError(f"{one_line(captured.getvalue())} (see {prog} --help)") from None
    sys.stderr.write(captured.getvalue())  # tyro's warnings, if any, as it wrote them
    return options


@contextlib.contextmanager
def _wide_console():
    """A wide console while tyro writes its error box, so its lines are not wrapped."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "1000"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


# The sections of tyro's error box that repeat the help text rather than say what is wrong.
_HELP_SECTIONS = ("Argument helptext", "For full helptext")


def one_line(box: str) -> str:
    """tyro's error box as one line: each section's heading and its entries, without the
    option descriptions and the pointers to --help.

    Written by hand because tyro offers no machine-readable error: the box is its only output.
    rich draws it with borders (Unicode or ASCII), or without any on a plain stream, where the
    title takes the first section.
    """
    lines = box.splitlines()
    bordered = any(line.lstrip().startswith(("│", "|")) for line in lines)
    sections: list[list[str]] = [[]]
    for line in lines:
        content = line.rstrip()
        if bordered:
            content = content.strip()
            if not content.startswith(("│", "|")):
                continue  # the top and bottom borders (the top one holds the title)
            content = content[1:-1].rstrip()
        if content.strip() and set(content.strip()) <= {"─", "-"}:
            sections.append([])
        elif content.strip():
            sections[-1].append(content)
    parts = []
    for section in sections if bordered else sections[1:]:
        if not section or section[0].strip().startswith(_HELP_SECTIONS):
            continue
        base = min(_indent(line) for line in section)
        heading = " ".join(line.strip() for line in section if _indent(line) == base)
        # Entries sit 4 spaces in; deeper lines are their descriptions.
        entries = [line.strip() for line in section if _indent(line) == base + 4]
        parts.append(f"{heading} {', '.join(entries)}".strip())
    return "; ".join(parts) or " ".join(box.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
