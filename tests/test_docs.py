"""The README and docs/ as a user meets them: the README stays a front page (at most 12 KB),
every command in README.md and docs/*.md parses with the real command line as written from the
repository root, every repository file a command or a link names exists, and the README's first
command is the quickstart.

Usage: python -m pytest tests/test_docs.py -q
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sketchcolor import cli
from sketchcolor.cli.options import parse_options

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024
PLACEHOLDER = "path/to/"  # marks a file the reader supplies
# Folders a page's earlier commands create (outputs), so a later command may name them.
REPO_FOLDERS = ("launch/", "benchmarks/", "shards/", "docs/", "tests/", "sketchcolor/")


def code_lines(page: Path) -> list[str]:
    """The lines of a page's shell code blocks (```bash, ```sh or untagged), continuations joined."""
    lines, language, inside = [], "", False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside, language = not inside, line[3:].strip()
            continue
        if inside and language in ("", "bash", "sh"):
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + line.strip()
            else:
                lines.append(line)
    return lines


def commands(page: Path) -> list[list[str]]:
    """Each `sketchcolor ...` (or `-m sketchcolor.train ...`) command in a page's code blocks."""
    found = []
    for line in code_lines(page):
        for part in re.split(r"&&|\|", line):
            if "sketchcolor" not in part or part.strip().startswith("#"):
                continue
            words = shlex.split(part.replace("[", " ").replace("]", " "), comments=True)
            words = [word for word in words if word != "..."]
            if "sketchcolor" in words:
                found.append(words[words.index("sketchcolor") + 1 :])
            elif "sketchcolor.train" in words:
                found.append(["train", *words[words.index("sketchcolor.train") + 1 :]])
    return found


def all_commands() -> list[tuple[str, list[str]]]:
    return [(page.name, words) for page in PAGES for words in commands(page)]


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT, f"README.md is {len(readme)} bytes"
    blocks = [line for line in code_lines(REPO / "README.md") if "pip install" in line]
    assert "sketchcolor quickstart" in blocks[0]  # command 1: install and run the main job
    assert "python -m pytest" in blocks[1]  # command 2: install and run the tests
    assert "Flag spellings" not in readme.decode()  # old flat names are not taught


def test_the_pages_have_command_examples():
    found = all_commands()
    assert len(found) >= 40
    assert {words[0] for _, words in found} >= {
        "quickstart", "pairs", "shards", "train", "evaluate", "colorize", "serve", "export",
        "verify", "datasets", "hints",
    }  # fmt: skip


@pytest.mark.parametrize(("page", "words"), all_commands(),
                         ids=lambda value: value if isinstance(value, str) else " ".join(value)[:60])  # fmt: skip
def test_every_command_parses_as_written(page, words):
    command, arguments = words[0], words[1:]
    modules = {module.__name__.rpartition(".")[2]: module for module in cli.COMMAND_MODULES}
    assert command in modules, f"{page} names an unknown command {command!r}"
    if "--data" in arguments and "--out" not in arguments and command == "train":
        arguments += ["--out", "runs/x"]  # the `...` examples leave the rest to the reader
    try:
        options = parse_options(modules[command].options(), arguments, prog=command,
                                description="")  # fmt: skip
    except SystemExit as exit:  # --help
        assert exit.code == 0
        return
    if command in ("synth", "shards") and options.out is not None:
        # Run from a fresh clone: an output name must not be a tracked folder (shards/ is one).
        assert not (REPO / options.out).exists(), f"{options.out} exists in the repository"
    named = [
        word for word in arguments if word.startswith(REPO_FOLDERS) and PLACEHOLDER not in word
    ]
    missing = [word for word in named if not (REPO / word).exists()]
    assert not missing, f"{page}: {missing} not in the repository"


def links(page: Path) -> list[str]:
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text())
            if not target.startswith(("http://", "https://", "#", "mailto:"))]  # fmt: skip


def test_every_relative_link_resolves():
    broken = [f"{page.relative_to(REPO)} -> {target}" for page in PAGES
              for target in links(page)
              if not (page.parent / target.split("#")[0]).exists()]  # fmt: skip
    assert sum(len(links(page)) for page in PAGES) > 10
    assert not broken, broken
