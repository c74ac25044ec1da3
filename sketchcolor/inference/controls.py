"""The colour control a user gives (hex colours or a reference image for a palette; a hints PNG
or JSON, or the web app's hints text, drawn on the sketch's own pixel grid; a coloured reference
picture for the reference control), checked against the colour control the run was trained
with, and fitted to each sketch's canvas.

Usage: controls = user_controls("hints", run_dir, palette=None, palette_from=None,
                                hints_png="hints.png", hints_json=None)
       hints = hints_for(controls, placement, label_size=8)
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.placement import Placement, letterbox, to_canvas


@dataclass(kw_only=True)
class UserControls:
    """The colour control a user gave, before it is fitted to each sketch."""

    palette: torch.Tensor | None = None
    """(1, 9, 3) in [-1, 1], from hex colours or a reference image."""

    hints_path: Path | None = None
    """A hints PNG or JSON, in the sketch's own pixel coordinates."""

    hints_labels: list | dict | None = None
    """Parsed hints JSON (the `--hints-json` format) given as text rather than a file; with
    a hints PNG too (the web app's brush strokes and dots), the labels go over the PNG's."""

    reference_picture: np.ndarray | None = None
    """uint8 (h, w, 3): the reference control's coloured picture, at its own size."""

    kept_colors: np.ndarray | None = None
    """(N, 3) uint8: colours kept from an earlier reference (a chain's keyframe's), or None."""

    @property
    def has_hints(self) -> bool:
        return self.hints_path is not None or self.hints_labels is not None

    @functools.cached_property
    def reference(self) -> torch.Tensor | None:
        """The reference picture as the generator takes it: (1, 3, h, w) in [-1, 1], or None."""
        from sketchcolor.util.images import from_uint8

        return None if self.reference_picture is None else from_uint8(self.reference_picture[None])

    @functools.cached_property
    def reference_colors(self) -> np.ndarray | None:
        """(N, 3) uint8: the colours flattening may take: the kept ones, else the reference's
        own (computed on first use: colouring without --flatten needs none)."""
        from sketchcolor.data.controls.reference import reference_colors

        if self.kept_colors is not None or self.reference_picture is None:
            return self.kept_colors
        return reference_colors(self.reference_picture)

    @functools.cached_property
    def reference_layout(self):
        """The reference's regions (data/regions.py RegionLayout) that flattening
        matches each sketch region to; None without a reference, or when its lines close fewer
        than two (computed on first use)."""
        from sketchcolor.data.controls.reference import reference_layout

        return None if self.reference_picture is None else reference_layout(self.reference_picture)

    def with_reference(self, picture: np.ndarray, *, keep_colors: bool = False) -> UserControls:
        """These controls with `picture` (uint8 (H, W, 3)) as the reference; keep_colors keeps
        the current reference's colours for flattening (a chain keeps its keyframe's)."""
        kept = self.reference_colors if keep_colors else None
        return dataclasses.replace(self, reference_picture=picture, kept_colors=kept)


def user_controls(
    color_control: str,
    run_dir: Path,
    *,
    palette: list[str] | str | None,
    palette_from: str | Path | None,
    hints_png: str | Path | None,
    hints_json: str | Path | None,
    hints_text: str | None = None,
    reference: str | Path | np.ndarray | None = None,
) -> UserControls:
    """Check the given controls against the run's colour control and load the palette.

    hints_text: hints JSON as a string ("" or None for none), as the web app's API takes it;
    it may come with a hints PNG (painted strokes), its labels drawn over the PNG's.
    reference: a coloured picture of the same character (a file, or uint8 (H, W, 3)), any size
    or shape, grayscale too, for the reference control.
    """
    from sketchcolor.data.controls.user_controls import parse_hints_text

    if palette and palette_from:
        raise SketchcolorError("give either a palette or --palette-from, not both")
    if sum(bool(given) for given in (hints_png, hints_json)) > 1 or (hints_json and hints_text):
        raise SketchcolorError("give either a hints PNG or a hints JSON, not both")
    hints_path = Path(hints_png or hints_json) if (hints_png or hints_json) else None
    labels = parse_hints_text(hints_text) if hints_text else None
    check_takes(color_control, run_dir, has_palette=bool(palette or palette_from),
                has_hints=hints_path is not None or labels is not None,
                has_reference=reference is not None)  # fmt: skip
    if hints_path is not None and not hints_path.is_file():
        raise SketchcolorError(f"{hints_path}: no such hints file")
    controls = UserControls(palette=palette_tensor(palette, palette_from), hints_path=hints_path,
                            hints_labels=labels)  # fmt: skip
    if reference is None:
        return controls
    return controls.with_reference(reference_picture(reference))


def reference_picture(reference: str | Path | np.ndarray) -> np.ndarray:
    """A reference file (any size, grayscale or RGB, transparency on white) or array -> uint8
    (H, W, 3)."""
    from sketchcolor.inference.sketch_files import read_sketch
    from sketchcolor.util.images import to_uint8

    if isinstance(reference, np.ndarray):
        picture = reference if reference.ndim == 3 else np.repeat(reference[..., None], 3, 2)
        if picture.shape[2] == 4:  # transparency on white, as a file's
            alpha = picture[..., 3:].astype(np.float32) / 255
            picture = np.round(picture[..., :3] * alpha + 255 * (1 - alpha))
        return np.ascontiguousarray(picture[..., :3]).astype(np.uint8)
    if not Path(reference).is_file():
        raise SketchcolorError(f"{reference}: no such reference image")
    try:
        return to_uint8(read_sketch(Path(reference)))[0]
    except SketchcolorError as error:
        raise SketchcolorError(
            str(error).replace("cannot read sketch", "cannot read reference image")
        ) from None


def check_takes(color_control: str, run_dir: Path, *, has_palette: bool, has_hints: bool,
                has_reference: bool = False) -> None:  # fmt: skip
    """One-line errors for a control the run does not take, or a palette or reference it needs
    and lacks."""
    from sketchcolor.data.controls.conditioning import uses_hints, uses_palette, uses_reference

    trained = f"{run_dir} was trained with colour control {color_control!r}"
    takes_palette = uses_palette(color_control)
    if has_palette and not takes_palette:
        raise SketchcolorError(f"{trained}; it takes no palette")
    if has_hints and not uses_hints(color_control):
        raise SketchcolorError(f"{trained}; it takes no hints")
    if takes_palette and not has_palette:
        raise SketchcolorError(f"{trained}; give --palette COLOURS or --palette-from IMAGE")
    if has_reference and not uses_reference(color_control):
        raise SketchcolorError(f"{trained}; it takes no reference picture")
    if uses_reference(color_control) and not has_reference:
        raise SketchcolorError(f"{trained}; give --reference IMAGE")


def palette_tensor(palette: list[str] | str | None,
                   palette_from: str | Path | None) -> torch.Tensor | None:  # fmt: skip
    """Hex colours ("#ff0000,#00ff00" or a list) or a reference image's 9 k-means colours ->
    (1, 9, 3) in [-1, 1]; None when neither is given."""
    from sketchcolor.data.controls import user_controls as controls

    if palette:
        colors = palette.split(",") if isinstance(palette, str) else list(palette)
        return controls.palette_from_hex([color.strip() for color in colors if color.strip()])
    if palette_from:
        if not Path(palette_from).is_file():
            raise SketchcolorError(f"{palette_from}: no such reference image")
        return controls.palette_from_image(Path(palette_from))
    return None


def hints_for(controls: UserControls, placement: Placement, label_size: int):
    """The user's hints fitted to one sketch's canvas; no label in the padding."""
    from sketchcolor.data.controls.conditioning import Hints
    from sketchcolor.data.controls.user_controls import hints_from_json, load_hints

    # JSON coordinates are pixels of the original sketch; scale them to the scaled sketch.
    where = dict(label_size=label_size, source_size=placement.original)
    parts = []
    if controls.hints_path is not None:
        parts.append(load_hints(controls.hints_path, placement.scaled, **where))
    if controls.hints_labels is not None:
        parts.append(hints_from_json(controls.hints_labels, placement.scaled, **where))
    hints = parts[0] if len(parts) == 1 else over(parts[1], parts[0])
    rgb = to_canvas(hints.rgb, placement, fill=1.0, mode="nearest")
    mask = to_canvas(hints.mask, placement, fill=0.0, mode="nearest")
    return Hints(rgb=rgb, mask=mask)


def reference_for(controls: UserControls, placement: Placement) -> torch.Tensor:
    """The user's reference fitted to one sketch's canvas: letterboxed into the scaled
    sketch's size (its aspect ratio kept), then padded as the sketch is; (1, 3, canvas)."""
    fitted = letterbox(controls.reference, placement.scaled, fill=1.0)
    return to_canvas(fitted, placement, fill=1.0, mode="nearest")


def over(top, bottom):
    """Two Hints at one size as one: `top`'s labels where it has them, else `bottom`'s."""
    from sketchcolor.data.controls.conditioning import Hints

    rgb = torch.where(top.mask > 0, top.rgb, bottom.rgb)
    return Hints(rgb=rgb, mask=torch.maximum(top.mask, bottom.mask))
