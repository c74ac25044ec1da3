"""Colour controls: turn a sketch (+ palette and/or hint labels) into the generator's input.

Everything here runs batched on whatever device the tensors live on, so training builds the
controls on the GPU with no per-sample Python. Four variants, as in the paper:

- ``none``: the sketch alone (3 channels).
- ``palette``: the 9 palette colours as constant planes after the sketch (3 + 27 = 30).
- ``hints``: 10x10 px labels on a grid of nodes, each the mean colour of that square of the
  colour image (or dots or brush strokes placed as a person places them); overlaid on the sketch (3 channels, the paper's) or as separate channels
  (sketch + hint RGB + hint mask, 7 channels).
- ``mixed``: hints then palette planes (30 or 34 channels).
- ``reference`` (ours): hints, then a coloured reference of the same character that is not
  aligned with the sketch (3 or 7, + 3 = 6 or 10 channels; data/controls/reference.py). Labels
  are optional, so it is the reference alone or the reference together with hints.

Usage:
    hints = sample_hints(color, HintConfig(), torch.Generator(color.device).manual_seed(0))
    inputs = build_generator_input("mixed", sketch, palette=palette, hints=hints, hint_config=HintConfig())
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F

from sketchcolor.config import (
    COLOR_CONTROLS,
    LINE_LEVEL,
    PALETTE_SIZE,
    HintConfig,
)
from sketchcolor.data.controls.reference import augmented_reference
from sketchcolor.data.controls.strokes import (
    DRAW_COLUMNS,
    paint_strokes,
    stroke_draws,
    stroke_window,
    walk_strokes,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.seeding import mixed_seed

REFERENCE_CHANNELS = 3
"""The reference's RGB, the last channels of a reference control's input."""


class Hints(NamedTuple):
    """Hint labels for a batch: the paper's hint image and where labels are."""

    rgb: torch.Tensor
    """(B, 3, H, W) in [-1, 1]: label colours, white (1.0) where there is no label."""

    mask: torch.Tensor
    """(B, 1, H, W) in {0, 1}: 1 inside a label."""


def check_color_control(color_control: str) -> None:
    """Raise a one-line error for an unknown colour-control name."""
    if color_control not in COLOR_CONTROLS:
        raise SketchcolorError(
            f"unknown colour control {color_control!r}; choose one of {', '.join(COLOR_CONTROLS)}"
        )


def uses_hints(color_control: str) -> bool:
    """Whether a colour control feeds hint labels to the generator (hints, mixed, reference)."""
    return color_control in ("hints", "mixed", "reference")


def uses_reference(color_control: str) -> bool:
    """Whether a colour control feeds a coloured reference picture to the generator."""
    return color_control == "reference"


def uses_palette(color_control: str) -> bool:
    """Whether a colour control feeds the 9-colour palette to the generator (palette, mixed)."""
    return color_control in ("palette", "mixed")


def input_channels(color_control: str, hint_config: HintConfig | None = None) -> int:
    """Generator input channels: none 3, palette 30, hints 3 or 7, mixed 30 or 34, reference 6
    or 10 (the reference's 3 last)."""
    check_color_control(color_control)
    hint_config = hint_config or HintConfig()
    hint_channels = 3 if hint_config.encoding == "overlay" else 7
    return {
        "none": 3,
        "palette": 3 + 3 * PALETTE_SIZE,
        "hints": hint_channels,
        "mixed": hint_channels + 3 * PALETTE_SIZE,
        "reference": hint_channels + REFERENCE_CHANNELS,
    }[color_control]


def label_color_channels(color_control: str, hint_config: HintConfig) -> tuple[int, ...]:
    """Which generator input channels hold the (spread) label colours and their mask:
    encode_hints puts them right after the sketch; () where the control has no separate hint
    channels."""
    if uses_hints(color_control) and hint_config.encoding == "channels":
        return (3, 4, 5, 6)
    return ()


def node_starts(length: int, grid: int, label_size: int, device=None) -> torch.Tensor:
    """First pixel of each node's label along one axis: (grid,) int64.

    Nodes sit at the centres of `grid` equal cells; labels are clamped inside the image.
    """
    centres = (torch.arange(grid, device=device, dtype=torch.float64) + 0.5) * (length / grid)
    starts = torch.round(centres - label_size / 2).long()
    return starts.clamp(0, max(length - label_size, 0))


def _membership(length: int, grid: int, label_size: int, device) -> torch.Tensor:
    """(grid, length) float: 1 where pixel x lies inside node i's label along this axis."""
    starts = node_starts(length, grid, label_size, device)  # (G,)
    pixels = torch.arange(length, device=device)  # (L,)
    inside = (pixels[None, :] >= starts[:, None]) & (pixels[None, :] < starts[:, None] + label_size)
    return inside.float()


def node_mean_colors(color: torch.Tensor, grid: int, label_size: int) -> torch.Tensor:
    """Mean colour of every node's label square: (B, 3, H, W) -> (B, 3, G, G).

    Written as two matrix products with the 0/1 membership matrices (rows x image x columns):
    squares on a non-integer node spacing (12.8 px at 512) then need no loop, and on the GPU
    it is two small batched GEMMs.
    """
    _, _, height, width = color.shape
    rows = _membership(height, grid, label_size, color.device).to(color.dtype)  # (G, H)
    columns = _membership(width, grid, label_size, color.device).to(color.dtype)  # (G, W)
    sums = rows @ color @ columns.T  # (B, 3, G, G)
    area = rows.sum(1)[:, None] * columns.sum(1)[None, :]  # (G, G) pixels per square
    return sums / area


def sample_label_counts(
    batch: int, hint_config: HintConfig, generator: torch.Generator, device=None
) -> torch.Tensor:
    """Labels per sample: 0 for a `zero_fraction` of samples, else uniform in 1..max_labels."""
    most = min(hint_config.max_labels, hint_config.grid**2)
    if most == 0:
        return torch.zeros(batch, dtype=torch.long, device=device)
    counts = torch.randint(1, most + 1, (batch,), generator=generator, device=device)
    zero = torch.rand(batch, generator=generator, device=device) < hint_config.zero_fraction
    return torch.where(zero, torch.zeros_like(counts), counts)


def select_nodes(counts: torch.Tensor, nodes: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) label counts -> (B, nodes) float: 1 for `count` distinct random nodes per sample."""
    scores = torch.rand(counts.shape[0], nodes, generator=generator, device=counts.device)
    # A node's rank among random scores is a uniform random permutation position.
    ranks = scores.argsort(dim=1).argsort(dim=1)  # (B, N)
    return (ranks < counts[:, None]).float()


def paint_labels(
    node_colors: torch.Tensor, selected: torch.Tensor, height: int, width: int, label_size: int
) -> Hints:
    """Paint the selected nodes' labels: (B, 3, G, G) colours, (B, G, G) selection -> Hints.

    The same membership matrices spread node values to pixels (rows^T x nodes x columns), so
    painting is two batched GEMMs rather than a scatter. Labels only overlap when label_size
    exceeds the node spacing; overlapping labels then blend.
    """
    grid = selected.shape[-1]
    rows = _membership(height, grid, label_size, selected.device).to(node_colors.dtype)
    columns = _membership(width, grid, label_size, selected.device).to(node_colors.dtype)
    # (B, 4, G, G): selected colours plus the selection itself, painted in one pass
    values = torch.cat([node_colors * selected[:, None], selected[:, None]], dim=1)
    painted = rows.T @ values @ columns  # (B, 4, H, W)
    coverage = painted[:, 3:]  # (B, 1, H, W) labels covering each pixel
    mask = (coverage > 0.5).to(node_colors.dtype)
    rgb = torch.where(mask > 0, painted[:, :3] / coverage.clamp(min=1), 1.0)
    return Hints(rgb=rgb, mask=mask)


def sample_hints(
    color: torch.Tensor,
    hint_config: HintConfig,
    generator: torch.Generator,
    *,
    counts: torch.Tensor | None = None,
    sketch: torch.Tensor | None = None,
    regions: torch.Tensor | None = None,
) -> Hints:
    """Simulate a user's hint labels from the colour images, as in training.

    color: (B, 3, H, W) in [-1, 1]. generator: the draws happen on its device, so a CPU
    generator gives the same labels whatever device `color` is on (CPU and CUDA generators
    give different streams); the colours are averaged on color's device.
    counts: optional (B,) labels per sample, replacing the random counts (clamped to the grid
    for grid placement; for dots, read back to size the batch: not training's path).
    sketch: (B, 3, H, W) in [-1, 1]; the "dots" placement needs it to keep labels off lines.
    regions: (B, H, W) region ids aligned with the sketch: strokes then stay inside their
    start's region.
    """
    batch, _, height, width = color.shape
    grid = hint_config.grid
    most = min(hint_config.max_labels, grid * grid)
    if counts is None:
        counts = sample_label_counts(batch, hint_config, generator, generator.device)
    elif hint_config.placement == "dots":
        most = int(counts.max()) if len(counts) else 0  # the caller's counts, not training's
    if hint_config.placement == "dots":
        if sketch is None:
            raise SketchcolorError("dot hint labels need the sketch (to keep them off its lines)")
        allowed = off_line_centres(sketch, hint_config.label_size)
        centres = draw_dot_centres(allowed, counts, generator, most)
        if hint_config.shape != "dots":
            return sample_stroke_hints(color, sketch, allowed, centres, hint_config.label_size,
                                       generator, hint_config.shape, regions=regions)  # fmt: skip
        return paint_dots(color, centres, hint_config.label_size)
    counts = counts.to(generator.device).clamp(0, grid * grid)
    selected = select_nodes(counts, grid * grid, generator).to(color.device)
    selected = selected.view(batch, grid, grid)
    node_colors = node_mean_colors(color, grid, hint_config.label_size)  # (B, 3, G, G)
    return paint_labels(node_colors, selected, height, width, hint_config.label_size)


def off_line_centres(sketch: torch.Tensor, dot_size: int) -> torch.Tensor:
    """(B, H, W) bool: where a dot of `dot_size` px can sit without touching a line.

    sketch: (B, 3, H, W) in [-1, 1]; a pixel is line below LINE_LEVEL.
    """
    lines = (sketch.mean(dim=1) < LINE_LEVEL).float()  # (B, H, W)
    # The whole dot's square stays off the lines: no line pixel in the (side x side) box
    # around a centre (the border counts as free), from an integral image of the line pixels:
    # two cumulative sums and four reads per pixel, whatever the dot's size.
    radius, side = dot_size // 2, 2 * (dot_size // 2) + 1
    padded = F.pad(lines, (radius + 1, radius, radius + 1, radius))
    total = padded.cumsum(dim=1).cumsum(dim=2)  # exact in float32 below 2**24 line pixels
    box = (total[:, side:, side:] - total[:, :-side, side:] - total[:, side:, :-side]
           + total[:, :-side, :-side])  # fmt: skip
    return box < 0.5


class Centres(NamedTuple):
    """Up to K label centres per sample, padded to K so a batch has one static shape."""

    points: torch.Tensor
    """(B, K, 2) long (y, x) pixel indices, in placement order; padding entries too are
    pixels of the image (their colour is gathered, then never painted)."""

    valid: torch.Tensor
    """(B, K) bool: which entries are labels (the rest are padding)."""

    def flat(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B*K, 2) points, (B*K,) owning sample, (B*K,) valid."""
        batch, most, _ = self.points.shape
        owner = torch.arange(batch, device=self.points.device).repeat_interleave(most)
        return self.points.reshape(-1, 2), owner, self.valid.reshape(-1)


def pad_centres(centres: list[torch.Tensor], device=None) -> Centres:
    """Per-sample (n, 2) centres of different lengths -> Centres (for labels made on the host)."""
    most = max((len(c) for c in centres), default=0)
    points = torch.zeros(len(centres), most, 2, dtype=torch.long)
    valid = torch.zeros(len(centres), most, dtype=torch.bool)
    for index, chosen in enumerate(centres):
        points[index, : len(chosen)] = chosen.reshape(-1, 2)
        valid[index, : len(chosen)] = True
    return Centres(points.to(device), valid.to(device))


def draw_dot_centres(
    allowed: torch.Tensor, counts: torch.Tensor, generator: torch.Generator, most: int
) -> Centres:
    """Per sample, `count` distinct random (y, x) centres among its allowed pixels (fewer
    where fewer are allowed), padded to `most`: one batched top-k, nothing read back."""
    batch, height, width = allowed.shape
    scores = torch.rand(batch, height * width, generator=generator, device=generator.device)
    scores = scores.to(allowed.device).masked_fill(~allowed.view(batch, -1), -1.0)
    top = scores.topk(min(most, height * width), dim=1)  # (B, K), best first
    rank = torch.arange(top.indices.shape[1], device=allowed.device)
    valid = (top.values >= 0) & (rank[None] < counts.to(allowed.device)[:, None])
    points = torch.stack([top.indices // width, top.indices % width], dim=-1)
    return Centres(points, valid)


def paint_dots(color: torch.Tensor, centres: Centres, dot_size: int) -> Hints:
    """Square dots of `dot_size` px at the centres, each in the truth's colour at its centre;
    where dots overlap, the later one wins.

    Batched with no readback: every dot's square of pixels gets its order number, one
    scatter keeps each pixel's largest (its last dot), and one gather colours the image.
    """
    batch, _, height, width = color.shape
    points, most = centres.points, centres.points.shape[1]
    offsets = torch.arange(dot_size, device=color.device) - dot_size // 2
    rows = points[..., 0, None, None] + offsets[:, None]  # (B, K, S, 1)
    columns = points[..., 1, None, None] + offsets[None, :]  # (B, K, 1, S)
    inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    flat = rows.clamp(0, height - 1) * width + columns.clamp(0, width - 1)  # (B, K, S, S)
    order = torch.arange(1, most + 1, device=color.device)[None, :, None, None]
    value = order * (inside & centres.valid[..., None, None])
    winner = torch.zeros(batch, height * width, dtype=torch.long, device=color.device)
    per_sample = most * dot_size * dot_size
    winner.scatter_reduce_(1, flat.reshape(batch, per_sample), value.reshape(batch, per_sample),
                           reduce="amax")  # fmt: skip
    images = torch.arange(batch, device=color.device)[:, None]
    dot_colors = color[images, :, points[..., 0], points[..., 1]].transpose(1, 2)  # (B, 3, K)
    dot_colors = torch.cat([dot_colors.new_ones(batch, 3, 1), dot_colors], dim=2)
    rgb = dot_colors.gather(2, winner[:, None].expand(batch, 3, -1))  # white where no dot
    mask = (winner > 0).view(batch, 1, height, width).to(color.dtype)
    return Hints(rgb=rgb.view(batch, 3, height, width), mask=mask)


def sample_stroke_hints(
    color: torch.Tensor,
    sketch: torch.Tensor,
    allowed: torch.Tensor,
    centres: Centres,
    width: int,
    generator: torch.Generator,
    shape: str = "strokes",
    regions: torch.Tensor | None = None,
) -> Hints:
    """Labels as short brush strokes (HintConfig.shape "strokes", or "both": each label a dot
    or a stroke on a coin flip): each starts at its centre (placed as a dot would be), walks
    1-3 random segments that stay off the lines and where the truth keeps its start's colour
    (data/controls/strokes.py), and is painted `width` px wide in the truth's colour at its
    start, clipped to those pixels.

    The start's colour, not the region's median: it is what a dot takes, so the two shapes
    differ in shape alone, it costs one gather where a median needs a sort per stroke, and
    the walk and the clip keep every painted pixel within the tolerance of it anyway.
    regions: (B, H, W) ids; the walk and the clip then also keep each stroke in its start's
    region. allowed: (B, H, W) where a brush of `width` may be centred (`off_line_centres`).
    Padding entries and dots are carried as invalid strokes rather than filtered
    out, so the shapes stay static and nothing is read back.
    """
    batch, _, height, image_width = color.shape
    starts, owner, valid = centres.flat()
    uniform = torch.rand(len(starts), DRAW_COLUMNS + 1, generator=generator,
                         device=generator.device).to(color.device)  # fmt: skip
    stroke = uniform[:, -1] < 0.5 if shape == "both" else torch.ones_like(valid)
    draws = stroke_draws(uniform[:, :-1], width)
    vertices = walk_strokes(starts, owner, draws, allowed, color, regions=regions)
    colors = color[owner, :, starts[:, 0], starts[:, 1]]  # (N, 3)
    widths = torch.full((len(colors),), float(width), device=color.device)
    free = sketch.mean(dim=1) >= LINE_LEVEL  # (B, H, W) off the lines
    stroke_regions = None if regions is None else regions[owner, starts[:, 0], starts[:, 1]]
    rgb, mask = paint_strokes(vertices, owner, colors.to(color.dtype), widths,
                              (batch, height, image_width), truth=color, keep=free,
                              regions=regions, stroke_regions=stroke_regions,
                              valid=valid & stroke, window=stroke_window(width))  # fmt: skip
    if shape != "both":
        return Hints(rgb=rgb, mask=mask)
    dot_valid = centres.valid & ~stroke.view(centres.valid.shape)
    dots = paint_dots(color, centres._replace(valid=dot_valid), width)
    return Hints(rgb=torch.where(mask > 0, rgb, dots.rgb), mask=torch.maximum(mask, dots.mask))


def empty_hints(sketch: torch.Tensor) -> Hints:
    """No labels at all: what a hints model sees when the user gives none."""
    batch, _, height, width = sketch.shape
    mask = sketch.new_zeros(batch, 1, height, width)
    return Hints(rgb=torch.ones_like(sketch), mask=mask)


def spread_hints(sketch: torch.Tensor, hints: Hints) -> Hints:
    """Each label's colour filled over the sketch region it sits in (HintConfig.spread
    "regions"): trapped-ball regions (data/regions.py), lines left unfilled. The regions are
    found with scipy on the CPU, one sample at a time."""
    from sketchcolor.data.regions import fill_labelled_regions, line_mask, segment_regions
    from sketchcolor.util.images import to_uint8

    masks = hints.mask[:, 0].detach().cpu().numpy() > 0.5
    if not masks.any():
        return hints
    sketches = to_uint8(sketch)
    rgb = hints.rgb.detach().float().cpu().permute(0, 2, 3, 1).numpy().copy()
    mask = masks.astype("float32")
    for index in range(len(masks)):
        if not masks[index].any():
            continue
        lines = line_mask(sketches[index])
        colors, filled = fill_labelled_regions(segment_regions(lines), masks[index], rgb[index])
        fill = filled & ~lines & ~masks[index]
        rgb[index][fill] = colors[fill]
        mask[index][fill] = 1.0
    return Hints(
        rgb=torch.from_numpy(rgb).permute(0, 3, 1, 2).to(hints.rgb),
        mask=torch.from_numpy(mask)[:, None].to(hints.mask),
    )


def batch_regions(batch: dict, hint_config: HintConfig) -> torch.Tensor | None:
    """A loader batch's (B, H, W) region maps: the shards' stored ones; for shards without
    them, segmented on the host when the spread needs them (with a one-line notice), else None."""
    if "regions" in batch:
        return batch["regions"]
    if hint_config.spread != "regions":
        return None
    from sketchcolor.data.controls.region_spread import host_regions

    return host_regions(batch["sketch"])


def draws_controls(color_control: str) -> bool:
    """Whether training draws anything at random for a colour control (labels, a reference)."""
    return uses_hints(color_control) or uses_reference(color_control)


def simulated_controls(batch: dict, color_control: str, hint_config: HintConfig,
                       generator: torch.Generator | None):  # fmt: skip
    """What training simulates for a loader batch, drawn from `generator` (None when
    `draws_controls` is False): (hint labels, the region maps they spread over, the
    augmented-self reference), each None where the control takes none. The reference is drawn
    after the labels, so a hints run's stream is the same with or without it."""
    hints, regions, reference = None, None, None
    if uses_hints(color_control):
        regions = batch_regions(batch, hint_config)
        hints = sample_hints(batch["color"], hint_config, generator, sketch=batch["sketch"],
                             regions=regions)  # fmt: skip
    if uses_reference(color_control):
        reference = augmented_reference(batch["color"], generator)
    return hints, regions, reference


def encode_hints(sketch: torch.Tensor, hints: Hints, encoding: str) -> torch.Tensor:
    """Sketch + hints -> (B, 3, H, W) overlay or (B, 7, H, W) sketch | hint RGB | mask."""
    if encoding == "overlay":
        return torch.lerp(sketch, hints.rgb, hints.mask)
    return torch.cat([sketch, hints.rgb, hints.mask], dim=1)


def palette_planes(palette: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 9, 3) palette -> (B, 27, H, W) constant planes, as an expanded view (no copy)."""
    batch = palette.shape[0]
    return palette.reshape(batch, 3 * PALETTE_SIZE, 1, 1).expand(-1, -1, height, width)


def build_generator_input(
    color_control: str,
    sketch: torch.Tensor,
    *,
    palette: torch.Tensor | None = None,
    hints: Hints | None = None,
    hint_config: HintConfig | None = None,
    regions: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """The generator input for a colour control: (B, input_channels(...), H, W).

    sketch: (B, 3, H, W) in [-1, 1]; palette: (B, 9, 3) in [-1, 1] (needed for palette and
    mixed); hints: from `sample_hints` or the user-control builders (None means no labels).
    regions: (B, H, W) region ids (the shards' maps): the "regions" spread then runs on the
    device (data/controls/region_spread.py); without them the sketch is segmented on the host.
    reference: (B, 3, H, W) in [-1, 1], the reference control's coloured picture at the
    sketch's size (data/controls/reference.py makes training's).
    """
    check_color_control(color_control)
    hint_config = hint_config or HintConfig()
    batch, _, height, width = sketch.shape
    parts = [sketch]
    if uses_hints(color_control):
        hints = hints if hints is not None else empty_hints(sketch)
        if hint_config.spread == "regions" and regions is not None:
            from sketchcolor.data.controls.region_spread import spread_over_regions

            hints = spread_over_regions(sketch, hints, regions)
        elif hint_config.spread == "regions":
            hints = spread_hints(sketch, hints)
        parts = [encode_hints(sketch, hints, hint_config.encoding)]
    if uses_palette(color_control):
        if palette is None:
            raise SketchcolorError(f"colour control {color_control!r} needs a palette")
        if palette.shape != (batch, PALETTE_SIZE, 3):
            raise SketchcolorError(
                f"palette must have shape ({batch}, {PALETTE_SIZE}, 3), got {tuple(palette.shape)}"
            )
        parts.append(palette_planes(palette.to(sketch), height, width))
    if uses_reference(color_control):
        if reference is None or reference.shape != sketch.shape:
            got = None if reference is None else tuple(reference.shape)
            raise SketchcolorError(f"colour control {color_control!r} needs a reference "
                                   f"of the sketch's shape {tuple(sketch.shape)}, got {got}")  # fmt: skip
        parts.append(reference.to(sketch))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


STATISTICS_EPOCH = 1_000_003  # any fixed epoch: its shuffle and flips are the loader's own


def statistics_inputs(
    loader, *, color_control: str, hint_config: HintConfig, seed: int, batches: int
) -> Iterator[torch.Tensor] | None:
    """Generator inputs of the first `batches` batches of a fixed epoch of `loader` (a training
    loader: shuffled, flipped), with hints drawn from fixed seeds as training draws them; None
    when `batches` <= 0. What BatchNorm statistics are recomputed over (models/batchnorm.py),
    so an exact resume exports the same bytes and `sketchcolor evaluate RUN/checkpoints/step-N`
    rebuilds the export of step N."""
    if batches <= 0:
        return None

    def inputs():
        epoch = loader.epoch(STATISTICS_EPOCH)
        for number, batch in enumerate(itertools.islice(epoch, batches)):
            color = batch["color"]  # (B, 3, H, W)
            draw = None
            if draws_controls(color_control):
                draw = torch.Generator(device=color.device)
                draw.manual_seed(mixed_seed(seed, STATISTICS_EPOCH, number))
            hints, regions, reference = simulated_controls(batch, color_control, hint_config,
                                                           draw)  # fmt: skip
            yield build_generator_input(
                color_control, batch["sketch"], palette=batch.get("palette"), hints=hints,
                hint_config=hint_config, regions=regions, reference=reference,
            )  # fmt: skip

    return inputs()
