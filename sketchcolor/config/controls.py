"""How hint labels are simulated in training and fed to the generator (`HintConfig`); the
code that samples them is data/controls/conditioning.py. The options of `sketchcolor hints`
(`HintsCommandConfig`), which writes such labels for a reference image.

Usage: hint_config = HintConfig.for_size(256, placement="dots")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from tyro.conf import Positional, arg

from sketchcolor.config.constants import (
    HINT_ENCODINGS,
    HINT_PLACEMENTS,
    HINT_SHAPES,
    HINT_SPREADS,
    PAPER_LABEL_SIZE,
    HintEncoding,
    HintPlacement,
    HintShape,
    HintSpread,
    check_choice,
    scaled_label_size,
)
from sketchcolor.errors import SketchcolorError


@dataclass(kw_only=True)
class HintConfig:
    """How training simulates hint labels, and how labels are fed to the generator."""

    grid: Annotated[int, arg(aliases=("--hint-grid",))] = 40
    """Nodes per image side. The paper's "40 nodes" read as a 40x40 grid (a node every
    12.8 px at 512); a small value such as 7 gives the other reading (about 40 nodes in all)."""

    label_size: Annotated[int | None, arg(aliases=("--hint-label-size",))] = PAPER_LABEL_SIZE
    """Side of one square label in pixels of the training image; None: the paper's 10 px at
    512 scaled to the image size (what `HintConfig.for_size(image_size)` fills in)."""

    max_labels: Annotated[int, arg(aliases=("--hint-max-labels",))] = 40
    """Most labels per sample; a sample that gets labels gets 1..max_labels, uniformly."""

    zero_fraction: Annotated[float, arg(aliases=("--hint-zero-fraction",))] = 0.2
    """Fraction of samples that get no labels at all, so sketch-only use stays good."""

    placement: Annotated[HintPlacement, arg(aliases=("--hint-placement",))] = "grid"
    """"grid": the paper's labels, a node square's mean colour (it can straddle lines); "dots":
    dots of label_size px placed as a person places them, inside regions and off the lines, in
    the truth's colour under each dot (the max_labels cap then ignores the grid)."""

    shape: Annotated[HintShape, arg(aliases=("--hint-shape",))] = "dots"
    """With placement "dots": "dots" (label_size squares); "strokes": short brush strokes of
    label_size px width that start where a dot would and walk a few random segments off the
    lines, inside the start's colour region of the truth, in the truth's colour at the start
    (data/controls/strokes.py); "both": each label a dot or a stroke at random."""

    spread: Annotated[HintSpread, arg(aliases=("--hint-spread",))] = "none"
    """"none": the generator sees the labels as drawn; "regions": each label's colour first
    fills the region of the sketch it sits in (trapped-ball regions, data/regions.py), so the
    network is told where a colour goes instead of having to learn to flood it."""

    encoding: Annotated[HintEncoding, arg(aliases=("--hint-encoding",))] = "overlay"
    """"overlay": labels painted over the sketch (3 channels, the paper's); "channels": the
    sketch, the hint RGB and the hint mask as separate channels (7)."""

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise SketchcolorError(f"hint grid must be at least 1, got {self.grid}")
        if self.label_size is not None and self.label_size < 1:
            raise SketchcolorError(f"hint label_size must be at least 1, got {self.label_size}")
        if self.max_labels < 0:
            raise SketchcolorError(f"hint max_labels must be >= 0, got {self.max_labels}")
        if not 0.0 <= self.zero_fraction <= 1.0:
            raise SketchcolorError(
                f"hint zero_fraction must be in [0, 1], got {self.zero_fraction}"
            )
        check_choice("hint encoding", self.encoding, HINT_ENCODINGS)
        check_choice("hint placement", self.placement, HINT_PLACEMENTS)
        check_choice("hint spread", self.spread, HINT_SPREADS)
        check_choice("hint shape", self.shape, HINT_SHAPES)
        if self.shape != "dots" and self.placement != "dots":
            raise SketchcolorError(
                f"hint shape {self.shape!r} needs --hint-placement dots (grid labels are squares)"
            )

    @classmethod
    def for_size(cls, image_size: int, **options) -> HintConfig:
        """The config for training at `image_size` x `image_size`.

        `label_size` defaults to `scaled_label_size(image_size)` (10 at 512, 5 at 256) instead
        of a fixed 10 px; every other option, and an explicit `label_size`, is used as given.
        Options that are None are treated as not given (so unset run options keep defaults).
        """
        options = {name: value for name, value in options.items() if value is not None}
        options.setdefault("label_size", scaled_label_size(image_size))
        return cls(**options)

    def to_dict(self) -> dict:
        """JSON-serialisable form, for config.json of a run."""
        return dataclasses.asdict(self)


@dataclass(kw_only=True)
class HintsCommandConfig:
    """Options of `sketchcolor hints` (sketchcolor.data.controls.user_controls.write_hints_png):
    the labels training would sample for a reference image."""

    reference: Positional[Path]
    """REF: color reference image."""
    out: Annotated[Path, arg(aliases=("-o",))]
    """Output PNG."""
    count: int | None = None
    """Number of labels (None: a random count, as in training)."""
    seed: int = 0
    """Random seed."""
    grid: int = 40
    """Nodes per side."""
    label_size: int | None = None
    """Label side in px (None: the paper's 10 px at 512, scaled to the image's size)."""
    size: int | None = None
    """Resize the reference to SIZE x SIZE first (None: keep its size)."""

    def __post_init__(self):
        if self.count is not None and self.count < 0:
            raise SketchcolorError(f"--count must be >= 0, got {self.count}")
