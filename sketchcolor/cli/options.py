"""Command lines generated from options dataclasses (tyro), with `--config FILE` for defaults.

Usage: config = parse_options(TrainConfig, ["--data", "shards", "--out", "runs/a"], prog="sketchcolor train", description="...")
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
import warnings
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
    from sketchcolor.config.files import read_config_file

    argv, config_file = take_config_flag(argv)
    default, file_secrets, file_words = tyro.MISSING_NONPROP, [], []
    if config_file is not None:
        values = read_config_values(cls, config_file)
        file_secrets = [str(values[item.name]) for item in dataclasses.fields(cls)
                        if not item.repr and values.get(item.name) is not None]  # fmt: skip
        file_words = leaf_words(read_config_file(config_file))  # tyro's warnings quote them
        default = template(cls, values)
    hidden = hidden_words(cls, argv) + file_secrets + file_words
    description = f"{description}\n\n{CONFIG_NOTE}"
    if "-h" in argv or "--help" in argv:
        if not file_secrets:  # the help as tyro shows it
            return tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
        shown = io.StringIO()  # the help lists defaults: a secret from the file is one of them
        try:
            with contextlib.redirect_stdout(shown):
                return tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
        finally:
            sys.stdout.write(redact(shown.getvalue(), file_secrets))
    # tyro reports a bad command line as a box of many lines; the house style is one line.
    captured = io.StringIO()
    try:  # tyro's warnings quote values too: caught here, shown below less any secret
        with contextlib.redirect_stderr(captured), _wide_console(), \
                warnings.catch_warnings(record=True) as caught:  # fmt: skip
            warnings.simplefilter("default")
            options = tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
    except SystemExit as stop:
        if stop.code in (0, None):
            raise
        message = redact(one_line(captured.getvalue()), hidden)
        raise SketchcolorError(f"{message} (see {prog} --help)") from None
    for warning in caught:
        captured.write(f"{prog}: warning: {warning.message}\n")
    sys.stderr.write(redact(captured.getvalue(), hidden))
    return options


SECRET_MARK = "***"


def hidden_words(cls: type, argv: Sequence[str]) -> list[str]:
    """The words of `argv` an error must not repeat: the value of a secret option (a field
    declared with `repr=False`, such as serve's --auth) and of any option this command does
    not know, since a mistyped `--auht alice:PASSWORD` is a secret too. Values of known
    options (`--port x`) may be shown."""
    secret = {_flag(item.name) for item in dataclasses.fields(cls) if not item.repr}
    known = _known_options(cls)

    def hides(name: str) -> bool:
        return name in secret or known is None or name not in known

    words = []
    for index, word in enumerate(argv):
        name, equals, value = word.partition("=")
        if not name.startswith("-") or not hides(name):
            continue
        if equals:
            words.append(value)
        elif index + 1 < len(argv):
            following = argv[index + 1]
            following_name = following.partition("=")[0]
            # A secret option's value is hidden whatever it looks like (`--auth -x:y`).
            if name in secret or known is None or following_name not in known:
                words.append(following)
    return [word for word in words if word]


def leaf_words(values) -> list[str]:
    """Every text value of a config file's tree (numbers and booleans say nothing secret)."""
    if isinstance(values, dict):
        return [word for value in values.values() for word in leaf_words(value)]
    if isinstance(values, list):
        return [word for value in values for word in leaf_words(value)]
    return [values] if isinstance(values, str) else []


def redact(text: str, words: Sequence[str]) -> str:
    """`text` with every one of `words` replaced by SECRET_MARK (longest first): where it stands
    as a word of its own, and anywhere at all when it is 4 characters or longer ("z" in
    "Unrecognized" stays; a password inside other text does not)."""
    import re

    for word in sorted(set(words), key=len, reverse=True):
        pattern = rf"(?<![^\s,'\"=(\[]){re.escape(word)}(?![^\s,'\")\];.])"
        text = re.sub(pattern, SECRET_MARK, text)
        if len(word) >= 4:
            text = text.replace(word, SECRET_MARK)
    return text


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _known_options(cls: type) -> set[str] | None:
    """Every option string of `cls`'s command line, or None when tyro cannot say (then every
    option's value counts as possibly secret)."""
    try:
        import tyro.extras

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = tyro.extras.get_parser(cls)
        return set(parser._option_string_actions)
    except Exception:  # an older or newer tyro without get_parser: hide more, not less
        return None


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
