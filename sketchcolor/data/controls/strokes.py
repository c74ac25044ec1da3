"""Brush strokes as hint labels: a round brush along a polyline, painted batched on any device,
and the random walk that training and the interactive benchmark use to simulate a person's
short strokes inside one colour region.

Geometry: vertices are (y, x) in pixel indices, as dot centres are. A pixel (row i, column j)
is painted when its distance to the polyline is below width / 2, measured from (i, j) for odd
widths and from (i + 0.5, j + 0.5) for even ones, so a straight stroke is `width` pixels
thick and a one-point stroke is a round dot centred where paint_dots centres a square.
The hints JSON's strokes, training's and the benchmark's all go through `paint_strokes`, so a
network is trained on the brush users draw with.

Usage:
    vertices = walk_strokes(starts, owner, stroke_draws(uniform, width=5), allowed, color)
    rgb, mask = paint_strokes(vertices, owner, colors, torch.full((len(owner),), 5.0), (B, H, W))
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

STROKE_SEGMENTS = 3
"""Most segments in a simulated stroke (each stroke gets 1..3)."""
SEGMENT_LENGTHS = (1.0, 3.0)
"""A simulated segment is this many stroke widths long (uniform), before the walk cuts it."""
TURN = math.pi / 2
"""A simulated stroke turns by at most this between segments (radians), as a hand does."""
SEGMENT_SAMPLES = 8
"""Points checked along each simulated segment: at most 3/8 of a width apart, closer than the
off-line map's margin, so a segment cannot jump over a line."""
COLOR_TOLERANCE = 24 / 127.5
"""A simulated stroke stays where every channel of the truth is within 24/255 of its start's
colour (in [-1, 1] units), and is clipped to those pixels."""
DRAW_COLUMNS = 2 * STROKE_SEGMENTS + 1
"""Uniform numbers one simulated stroke takes: direction, segment count, turns, lengths."""
WINDOW_PIXELS = 1 << 22
"""Window pixels painted per chunk of segments (bounds the memory of `paint_strokes`)."""
WINDOW_STEP = 8
"""Segment windows are rounded up to multiples of this many pixels and batched by size."""


class StrokeDraws(NamedTuple):
    """The random choices of N simulated strokes."""

    angle: torch.Tensor
    """(N,) direction of the first segment, radians."""
    turns: torch.Tensor
    """(N, STROKE_SEGMENTS - 1) change of direction before each later segment."""
    lengths: torch.Tensor
    """(N, STROKE_SEGMENTS) segment lengths in pixels; 0 past the stroke's segment count."""


def stroke_draws(uniform: torch.Tensor, width: float) -> StrokeDraws:
    """(N, DRAW_COLUMNS) uniform numbers in [0, 1) -> strokes of `width` px.

    One row per stroke, so a stroke's shape depends on its own row only (the benchmark's
    strokes nest across label counts because of this).
    """
    segments = STROKE_SEGMENTS
    count = 1 + (uniform[:, 1] * segments).long().clamp(max=segments - 1)  # (N,) 1..K
    turns = (uniform[:, 2 : segments + 1] * 2 - 1) * TURN
    low, high = SEGMENT_LENGTHS
    lengths = (low + (high - low) * uniform[:, segments + 1 :]) * width  # (N, K)
    used = torch.arange(segments, device=uniform.device)[None] < count[:, None]
    return StrokeDraws(angle=uniform[:, 0] * 2 * math.pi, turns=turns, lengths=lengths * used)


def walk_strokes(
    starts: torch.Tensor,
    owner: torch.Tensor,
    draws: StrokeDraws,
    allowed: torch.Tensor,
    color: torch.Tensor,
    tolerance: float = COLOR_TOLERANCE,
    regions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Walk each stroke from its start: (N, STROKE_SEGMENTS + 1, 2) float (y, x) vertices.

    starts: (N, 2) pixel indices (y, x); owner: (N,) the image each stroke is in; allowed:
    (B, H, W) bool, where the brush's centre may go (off the lines); color: (B, 3, H, W), the
    truth. A segment ends at its last checked point that is allowed and whose truth colour is
    within `tolerance` of the start's; a cut segment ends the stroke. Batched: one gather per
    segment for all strokes, no per-stroke Python. regions: (B, H, W) region ids; a checked
    point must then also lie in its start's region (a stroke stays inside it).
    """
    batch, height, width = allowed.shape
    point = starts.to(color.dtype)
    start_color = color[owner, :, starts[:, 0], starts[:, 1]]  # (N, 3)
    start_region = None if regions is None else regions[owner, starts[:, 0], starts[:, 1]]
    fractions = torch.arange(1, SEGMENT_SAMPLES + 1, device=color.device) / SEGMENT_SAMPLES
    angle, alive, vertices = draws.angle, torch.ones_like(owner, dtype=torch.bool), [point]
    for segment in range(STROKE_SEGMENTS):
        if segment:
            angle = angle + draws.turns[:, segment - 1]
        length = draws.lengths[:, segment] * alive  # (N,)
        step = torch.stack([torch.sin(angle), torch.cos(angle)], dim=1) * length[:, None]
        samples = point[:, None] + fractions[None, :, None] * step[:, None]  # (N, S, 2)
        rows, columns = samples.round().long().unbind(-1)  # (N, S) each
        inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
        rows, columns = rows.clamp(0, height - 1), columns.clamp(0, width - 1)
        images = owner[:, None].expand_as(rows)
        here = color[images, :, rows, columns]  # (N, S, 3)
        close = (here - start_color[:, None]).abs().amax(dim=-1) <= tolerance
        good = inside & allowed[images, rows, columns] & close
        if start_region is not None:
            good &= regions[images, rows, columns] == start_region[:, None]
        steps = good.long().cumprod(dim=1).sum(dim=1)  # (N,) checked points before the first bad
        point = point + step * (steps / SEGMENT_SAMPLES)[:, None]
        alive = alive & (steps == SEGMENT_SAMPLES)
        vertices.append(point)
    return torch.stack(vertices, dim=1)


def stroke_window(width: float) -> int:
    """Side of a square window that holds any simulated segment's brush of `width` px (its
    longest length plus the brush on both ends, plus rounding)."""
    return math.ceil(SEGMENT_LENGTHS[1] * width + width) + 3


def segments_of(
    vertices: torch.Tensor,
    owner: torch.Tensor,
    widths: torch.Tensor,
    valid: torch.Tensor | None = None,
):
    """Polylines (N, V, 2) -> their segments as (a, b, radius, corner, label, image): ends
    a, b (M, 2), brush radius (M,), window origin corner (M, 2), stroke label and image (M,);
    and kept (M,) bool, the segments to paint.

    Even widths are centred half a pixel up and left (see the module docstring); a segment of
    zero length is kept only as a stroke's first (a one-point stroke is a round dot); valid
    (N,) drops padding strokes.
    """
    count, corners, _ = vertices.shape
    points = vertices - ((widths.round() % 2) == 0).to(vertices.dtype)[:, None, None] * 0.5
    starts, ends = (points[:, :-1], points[:, 1:]) if corners > 1 else (points, points)
    per = starts.shape[1]
    label = torch.arange(count, device=vertices.device)[:, None].expand(count, per).reshape(-1)
    first = (torch.arange(per, device=vertices.device) == 0)[None].expand(count, per).reshape(-1)
    a, b = starts.reshape(-1, 2), ends.reshape(-1, 2)
    kept = first | (a != b).any(dim=1)
    if valid is not None:
        kept &= valid[label]
    radius = widths[label] / 2
    corner = (torch.minimum(a, b) - radius[:, None]).floor().long()
    return (a, b, radius, corner, label, owner[label]), kept


def paint_strokes(
    vertices: torch.Tensor,
    owner: torch.Tensor,
    colors: torch.Tensor,
    widths: torch.Tensor,
    size: tuple[int, int, int],
    *,
    truth: torch.Tensor | None = None,
    keep: torch.Tensor | None = None,
    tolerance: float = COLOR_TOLERANCE,
    regions: torch.Tensor | None = None,
    stroke_regions: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
    window: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paint N strokes into (B, 3, H, W) rgb (white elsewhere) and (B, 1, H, W) mask.

    vertices: (N, V, 2) (y, x); owner: (N,) image index; colors: (N, 3) in [-1, 1]; widths:
    (N,) brush diameters in pixels; size: (B, H, W). Where strokes overlap the later one wins,
    as later dots do. truth and keep (simulated strokes): the painted pixels are then cut to
    where `keep` (B, H, W) holds and the truth is within `tolerance` of the stroke's colour.
    regions (B, H, W) ids and stroke_regions (N,): each stroke is cut to its own region.
    valid: (N,) bool, the strokes to paint (others are padding).

    Each segment is painted in a window around it (distance of every window pixel to the
    segment, then one scatter), so the work is about the strokes' area, not the image's.
    On the host, windows are sized to each segment (`_winners_in_sized_windows`). Off the
    host, given `window` (a side that holds every segment, `stroke_window`: training's
    simulated strokes know it), all windows have that static size and nothing is read back
    (`_winners_in_fixed_windows`).
    """
    batch, height, width = size
    if not len(vertices):  # no strokes at all (e.g. samples drawn with no labels)
        return colors.new_ones(batch, 3, height, width), colors.new_zeros(batch, 1, height, width)
    segments, kept = segments_of(vertices, owner, widths, valid)
    if window is None or vertices.device.type == "cpu":
        winner = _winners_in_sized_windows(segments, kept, size)
    else:
        winner = _winners_in_fixed_windows(segments, kept, size, window)
    winner = winner.view(batch, height, width)
    painted = colors[(winner - 1).clamp(min=0)]  # (B, H, W, 3)
    inside = winner > 0
    if keep is not None:
        inside &= keep
    if truth is not None:
        inside &= (truth.permute(0, 2, 3, 1) - painted).abs().amax(dim=-1) <= tolerance
    if regions is not None:
        inside &= regions == stroke_regions[(winner - 1).clamp(min=0)]
    mask = inside[:, None].to(colors.dtype)
    rgb = torch.where(mask > 0, painted.permute(0, 3, 1, 2), 1.0)
    return rgb, mask


def _winners_in_sized_windows(segments, kept, size) -> torch.Tensor:
    """(B*H*W,) 1 + the last stroke covering each pixel (0: none), from windows sized to each
    segment, sorted by size and chunked so a long one does not size them all (reads the
    sizes back: for the host, and for user strokes of any length)."""
    a, b, radius, corner, label, image = (part[kept] for part in segments)
    batch, height, width = size
    winner = torch.zeros(batch * height * width, dtype=torch.long, device=a.device)
    extent = (torch.maximum(a, b) + radius[:, None]).ceil().long() - corner + 1  # (M, 2)
    # Windows rounded up to multiples of WINDOW_STEP and grouped by that size, so each
    # group is one batched computation with little padding.
    steps = (extent + WINDOW_STEP - 1) // WINDOW_STEP  # (M, 2)
    order = (steps[:, 0] * (height + width) + steps[:, 1]).argsort()
    for part, window in _chunks((steps[order] * WINDOW_STEP).tolist()):
        part = order[part]
        near, rows, columns = _window_near(a[part], b[part], radius[part], corner[part],
                                           window, (height, width))  # fmt: skip
        ids, y, x = near.nonzero(as_tuple=True)
        flat = rows[ids, y, 0] * width + columns[ids, 0, x]
        winner.scatter_reduce_(0, image[part][ids] * (height * width) + flat,
                               label[part][ids] + 1, reduce="amax")  # fmt: skip
    return winner


def _winners_in_fixed_windows(segments, kept, size, window: int) -> torch.Tensor:
    """`_winners_in_sized_windows` with every window `window` px square and a fixed number
    of segments per chunk: static shapes, nothing read back (for an accelerator)."""
    a, b, radius, corner, label, image = segments
    batch, height, width = size
    winner = torch.zeros(batch * height * width, dtype=torch.long, device=a.device)
    chunk = max(1, WINDOW_PIXELS // (window * window))
    for start in range(0, len(a), chunk):
        part = slice(start, start + chunk)
        near, rows, columns = _window_near(a[part], b[part], radius[part], corner[part],
                                           (window, window), (height, width))  # fmt: skip
        flat = (rows.clamp(0, height - 1) * width + columns.clamp(0, width - 1)).expand_as(near)
        value = (label[part] + 1)[:, None, None] * (near & kept[part, None, None])
        index = image[part][:, None, None] * (height * width) + flat
        winner.scatter_reduce_(0, index.reshape(-1), value.reshape(-1), reduce="amax")
    return winner


def _chunks(windows: list[list[int]]):
    """(slice, (rows, columns)) runs of equal windows, each within WINDOW_PIXELS in all."""
    first = 0
    while first < len(windows):
        rows, columns = windows[first]
        most = max(1, WINDOW_PIXELS // (rows * columns))
        last = first + 1
        while last < len(windows) and last - first < most and windows[last] == windows[first]:
            last += 1
        yield slice(first, last), (rows, columns)
        first = last


def _window_near(a, b, radius, corner, extent: tuple[int, int], size: tuple[int, int]):
    """Which pixels of windows of `extent` (rows, columns) from `corner` lie within `radius`
    of segments a-b and inside the image: -> near (m, E, E) bool, and the windows' rows
    (m, E, 1) and columns (m, 1, E)."""
    height, width = size
    rows = corner[:, 0, None, None] + torch.arange(extent[0], device=a.device)[None, :, None]
    columns = corner[:, 1, None, None] + torch.arange(extent[1], device=a.device)[None, None, :]
    direction = (b - a)[:, :, None, None]  # (m, 2, 1, 1)
    length2 = (direction * direction).sum(dim=1).clamp(min=1e-12)  # (m, 1, 1)
    dy, dx = rows - a[:, 0, None, None], columns - a[:, 1, None, None]  # (m, E, 1), (m, 1, E)
    t = ((dy * direction[:, 0] + dx * direction[:, 1]) / length2).clamp_(0, 1)  # (m, E, E)
    off_y = dy - t * direction[:, 0]
    off_x = dx - t * direction[:, 1]
    near = off_y.square_() + off_x.square_() < radius.square()[:, None, None]
    near &= (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    return near, rows, columns
