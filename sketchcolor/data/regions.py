"""Line regions and flat colours: split a sketch into the regions its lines close, then give
each region one colour.

Segmentation is trapped-ball filling (as in style2paints and hepesu/LineFiller): a ball of
radius r cannot pass through a gap in the lines narrower than 2r + 1, so the regions are the
connected places a ball's centre reaches (the free space eroded by the ball), grown back by r
pixels inside the free space; pockets the ball never reaches become regions of their own, and
line pixels join their nearest region. scipy's morphology does each step; what no library
offers is this particular combination, hence these few functions.

Flattening gives each region the colour of a hint label inside it (the user's word is final),
else the median of the network's output over the region, and draws the lines back on top.
The paint bucket is the no-learning baseline: a plain flood fill, no gap closing, and only
labelled regions coloured.

Arrays here are numpy at file boundaries' conventions: uint8 (H, W, 3) images, bool (H, W)
line masks, int32 (H, W) region maps (1..N; 0 only in `bucket_regions`' lines).

Usage:
    regions = segment_regions(line_mask(sketch), gap_radius=2)
    flat = flatten_colors(output, sketch, regions, points)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sketchcolor.config import LINE_THRESHOLD
from sketchcolor.util.images import COLOR_GRID_LEVELS, color_cells

GAP_RADIUS = 2
"""The trapped ball's radius: gaps up to 4 px wide are closed (line art at 256-512 px)."""
MIN_POCKET = 8
"""Unreached pockets smaller than this many pixels join their neighbour instead of standing alone."""


def line_mask(sketch: np.ndarray, threshold: int = LINE_THRESHOLD) -> np.ndarray:
    """(H, W, 3) or (H, W) uint8 sketch -> (H, W) bool, True on lines."""
    values = sketch.mean(axis=2) if sketch.ndim == 3 else sketch
    return values < threshold


def disk(radius: int) -> np.ndarray:
    """A (2r+1, 2r+1) bool disk: the trapped ball."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def _grow_within(labels: np.ndarray, free: np.ndarray, steps: int) -> np.ndarray:
    """Grow labelled pixels into unlabelled free pixels, one 3x3 step at a time."""
    labels = labels.copy()
    for _ in range(steps):
        open_pixels = free & (labels == 0)
        if not open_pixels.any():
            break
        grown = ndimage.grey_dilation(labels, size=(3, 3))
        take = open_pixels & (grown > 0)
        if not take.any():
            break
        labels[take] = grown[take]
    return labels


def _join_nearest(labels: np.ndarray, unassigned: np.ndarray) -> np.ndarray:
    """Give every `unassigned` pixel the label of its nearest labelled pixel."""
    if not unassigned.any() or labels.max() == 0:
        return labels
    _, (rows, columns) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    joined = labels.copy()
    joined[unassigned] = labels[rows[unassigned], columns[unassigned]]
    return joined


def segment_regions(lines: np.ndarray, gap_radius: int = GAP_RADIUS) -> np.ndarray:
    """(H, W) bool line mask -> (H, W) int32 regions 1..N covering every pixel.

    gap_radius: gaps in the lines up to 2 * gap_radius pixels wide are closed (0: none).
    """
    free = ~lines
    if gap_radius > 0:
        centres = ndimage.binary_erosion(free, structure=disk(gap_radius), border_value=1)
    else:
        centres = free
    labels, count = ndimage.label(centres)
    labels = _grow_within(labels.astype(np.int32), free, gap_radius)
    # Pockets the ball never reached (thin strips, small closed shapes): regions of their own.
    pockets, pocket_count = ndimage.label(free & (labels == 0))
    if pocket_count:
        sizes = np.bincount(pockets.ravel(), minlength=pocket_count + 1)
        keep = sizes >= MIN_POCKET
        keep[0] = False
        renumber = np.zeros(pocket_count + 1, dtype=np.int32)
        renumber[keep] = count + np.arange(1, int(keep.sum()) + 1)
        labels = np.where(renumber[pockets] > 0, renumber[pockets], labels)
    return _join_nearest(labels, labels == 0).astype(np.int32)


def bucket_regions(lines: np.ndarray) -> np.ndarray:
    """What a plain paint bucket floods: 4-connected non-line pixels, no gap closing; 0 on lines."""
    labels, _ = ndimage.label(~lines)
    return labels.astype(np.int32)


def label_region_colors(regions: np.ndarray, points: list[tuple[int, int, tuple]]) -> dict:
    """{region: colour} from hint points (y, x, (r, g, b) uint8); a later point wins a tie."""
    colors = {}
    for y, x, color in points:
        region = int(regions[y, x])
        if region > 0:
            colors[region] = np.asarray(color, dtype=np.uint8)
    return colors


def label_points(
    mask: np.ndarray,
    rgb: np.ndarray,
    regions: np.ndarray | None = None,
    lines: np.ndarray | None = None,
) -> list[tuple[int, int, tuple]]:
    """Hint points (y, x, colour) from a label mask: one per connected label, at one of its
    middle pixels (inside the label even when it is not convex). rgb: (H, W, 3) uint8.

    With `regions` (and the sketch's `lines`), a label is cut where it crosses into another
    region or changes colour, so a brush stroke across several regions gives a point in each.
    Each label keeps its thickest piece and any other at least half as thick (off the lines):
    a dot clicked near a line does not colour the sliver of the next region it overlaps.
    """
    labels, _ = ndimage.label(mask)
    if regions is None:
        return [_middle_point(labels[box] == index, box, rgb)
                for index, box in enumerate(ndimage.find_objects(labels), start=1)]  # fmt: skip
    lines = np.zeros(mask.shape, bool) if lines is None else lines
    colour = rgb[mask].astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    key = (labels[mask].astype(np.int64) * (int(regions.max()) + 1) + regions[mask]) << 24
    _, inverse = np.unique(key + colour, return_inverse=True)
    pieces = np.zeros(mask.shape, np.int64)
    pieces[mask] = inverse.ravel() + 1
    found = []  # (label, depth, piece mask in its box, box)
    for index, box in enumerate(ndimage.find_objects(pieces), start=1):
        piece = (pieces[box] == index) & ~lines[box]
        if piece.any():
            found.append((int(labels[box][pieces[box] == index][0]), _depth(piece), piece, box))
    thickest: dict[int, float] = {}
    for label, depth, _, _ in found:
        thickest[label] = max(thickest.get(label, 0.0), depth)
    points = [_middle_point(piece, box, rgb) for label, depth, piece, box in found
              if depth >= 0.5 * thickest[label]]  # fmt: skip
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if index not in thickest:  # a label wholly on a line: its own middle, as without regions
            points.append(_middle_point(labels[box] == index, box, rgb))
    return points


def _middle_point(piece: np.ndarray, box: tuple, rgb: np.ndarray) -> tuple[int, int, tuple]:
    """(y, x, colour) at one of the middle pixels of a bool shape cut out at `box`."""
    where = np.argwhere(piece)
    y, x = where[len(where) // 2] + (box[0].start, box[1].start)
    return int(y), int(x), tuple(int(v) for v in rgb[y, x])


def _depth(piece: np.ndarray) -> float:
    """How thick a bool shape is: the largest distance from one of its pixels to its edge."""
    return float(ndimage.distance_transform_edt(np.pad(piece, 1)).max())


def fill_labelled_regions(
    regions: np.ndarray, mask: np.ndarray, rgb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spread labels over their regions: -> ((H, W, 3) float colours, (H, W) bool filled).

    Each pixel of a region holding labelled pixels (`mask`) takes the `rgb` (float, any scale)
    of the nearest labelled pixel in its own region, as flattening does (nearest_label_colors):
    a region holding labels of several colours, with no line between them, keeps each colour
    on its side instead of their mean. A pixel whose nearest label lies in another region takes
    the mean of its region's labels. `filled` is True over every pixel of those regions.
    """
    count = int(regions.max()) + 1
    labelled = regions[mask]
    pixels = np.bincount(labelled, minlength=count)
    sums = np.stack([np.bincount(labelled, rgb[mask][:, c], count) for c in range(3)], 1)
    colors = (sums / np.maximum(pixels, 1)[:, None])[regions]
    filled = (pixels > 0)[regions]
    _, (rows, columns) = ndimage.distance_transform_edt(~mask, return_indices=True)
    own = filled & (regions[rows, columns] == regions)
    colors[own] = rgb[rows[own], columns[own]]
    return colors, filled


def region_medians(image: np.ndarray, regions: np.ndarray, count: int | None = None) -> np.ndarray:
    """(N + 1, 3) uint8: each region's per-channel median colour (row r for region r; 0 for
    a region without pixels). count: N, when some regions may have no pixels left."""
    count = int(regions.max()) if count is None else count
    index = np.arange(1, count + 1)
    medians = np.zeros((count + 1, 3), dtype=np.uint8)
    if count:
        for channel in range(3):
            values = ndimage.median(image[..., channel], labels=regions, index=index)
            values = np.nan_to_num(np.asarray(values, dtype=float))  # NaN: no pixels
            medians[1:, channel] = np.round(values).astype(np.uint8)
    return medians


def draw_lines(flat: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """Multiply the sketch over flat colours (how line art sits over its colours)."""
    product = flat.astype(np.uint16) * sketch.astype(np.uint16) // 255
    return product.astype(np.uint8)


def flatten_colors(
    output: np.ndarray,
    sketch: np.ndarray,
    regions: np.ndarray,
    points: list[tuple[int, int, tuple]] = (),
    allowed: np.ndarray | None = None,
    reference=None,
) -> np.ndarray:
    """`region_colors` with the lines drawn back on top (draw_lines). uint8 (H, W, 3)."""
    return draw_lines(region_colors(output, sketch, regions, points, allowed, reference), sketch)


def bucket_from_picture(sketch: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """A paint bucket that takes each flood-fill region's colour from `picture` at the same
    place (its median there): the no-learning baseline of the reference control."""
    regions = bucket_regions(line_mask(sketch))
    table = region_medians(picture, regions)
    table[0] = 255
    return draw_lines(table[regions], sketch)


def region_colors(
    output: np.ndarray,
    sketch: np.ndarray,
    regions: np.ndarray,
    points: list[tuple[int, int, tuple]] = (),
    allowed: np.ndarray | None = None,
    reference=None,
) -> np.ndarray:
    """One colour per region, without the lines: a label's colour where the user placed one,
    else the median of the network's `output` over the region's non-line pixels (in a small
    region, such as an eye, the line pixels joined to it would outnumber its own); with a
    `reference` (a RegionLayout, data/controls/reference.py's reference_layout) the colour of the reference region
    it matches; snapped to the nearest of `allowed` ((N, 3) uint8, a reference's own colours)
    when given. Without a reference, an unlabelled region the network paints in clearly
    different parts keeps each part's colour (split_by_output). uint8 (H, W, 3)."""
    lines = line_mask(sketch)
    table = region_medians(output, regions)
    inside = region_medians(output, np.where(lines, 0, regions), count=int(regions.max()))
    has_inside = np.bincount(regions[~lines], minlength=len(table)) > 0
    table[has_inside] = inside[has_inside]
    if reference is not None:  # the frame's colours: the inside medians just taken
        frame = RegionLayout(*region_places(regions, lines), colours=inside[1:])
        table[1:] = matched_colours(frame, reference)
    if allowed is not None:
        table = snap_to_colors(table, allowed)
    labelled = label_region_colors(regions, list(points))
    for region, color in labelled.items():
        table[region] = color
    flat = table[regions]
    if reference is None and allowed is None:  # else the reference's colours decide
        free = ~np.isin(regions, list(labelled)) & ~lines & (regions > 0)
        flat = split_by_output(flat, output, regions, free)
    return nearest_label_colors(flat, regions, list(points))


OUTPUT_PART_SHARE = 0.003
"""The smallest part of an unlabelled region that keeps the network's own colour when
flattening (200 pixels at 256 px): smaller specks take the region's colour."""


PART_COLOUR_DIFFERENCE = 32
"""How far (largest channel difference) a part's colour must lie from its region's to keep it:
a colour-grid cell's width."""


def split_by_output(flat: np.ndarray, output: np.ndarray, regions: np.ndarray,
                    free: np.ndarray) -> np.ndarray:  # fmt: skip
    """Where the network paints parts of one unlabelled region (`free` pixels) in clearly
    different colours, such as a figure joined to the white ground through a gap in its
    outline, each part (connected, in one cell of the colour grid, its core at least
    OUTPUT_PART_SHARE of the picture, its median more than PART_COLOUR_DIFFERENCE from the
    region's colour) takes its own median instead of the region's colour.

    The parts are connected components of equal (region, colour cell) pixels, found with
    scipy's graph components: ndimage.label only labels a binary image."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    height, width = regions.shape
    min_area = OUTPUT_PART_SHARE * height * width
    cells = color_cells(output / 255.0)
    key = np.where(free, regions.astype(np.int64) * COLOR_GRID_LEVELS**3 + cells + 1, 0)
    index = np.arange(height * width).reshape(height, width)
    pairs = []
    for a, b, ia, ib in ((key[:, :-1], key[:, 1:], index[:, :-1], index[:, 1:]),
                         (key[:-1], key[1:], index[:-1], index[1:])):  # fmt: skip
        same = (a == b) & (a > 0)
        pairs.append((ia[same], ib[same]))
    rows = np.concatenate([p[0] for p in pairs])
    cols = np.concatenate([p[1] for p in pairs])
    graph = coo_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(height * width,) * 2)
    _, parts = connected_components(graph, directed=False)
    parts = parts.reshape(height, width)
    # A part counts by its core, the pixels whose 5 x 5 neighbourhood is all of it: the thin
    # halo a network paints along an outline has none, a figure's fill has most of its own.
    core = free & (ndimage.maximum_filter(key, size=5) == key)
    core &= ndimage.minimum_filter(key, size=5) == key
    sizes = np.bincount(parts[core], minlength=parts.max() + 1)
    big = free & (sizes[parts] >= min_area)
    if not big.any():
        return flat
    numbered = np.where(big, parts + 1, 0)
    medians = region_medians(output, numbered, count=int(numbered.max()))[numbered]
    # Only a clearly different colour splits a region: a smooth output crossing a cell's
    # border makes parts of nearly one colour.
    apart = big & (np.abs(medians.astype(np.int16) - flat).max(-1) > PART_COLOUR_DIFFERENCE)
    flat = flat.copy()
    flat[apart] = medians[apart]
    return flat


def nearest_label_colors(flat: np.ndarray, regions: np.ndarray, points: list) -> np.ndarray:
    """Where one region holds labels of several colours (colour areas with no line between
    them, such as a flag's star), each pixel takes the colour of the nearest label in its own
    region (straight-line distance) instead of one label's colour for the whole region."""
    if len(points) < 2:
        return flat
    where = np.zeros(regions.shape, np.int32)
    for number, (y, x, _) in enumerate(points, start=1):
        where[y, x] = number
    _, (rows, columns) = ndimage.distance_transform_edt(where == 0, return_indices=True)
    nearest = where[rows, columns] - 1  # (H, W) index into points
    ys = np.array([y for y, _, _ in points])
    xs = np.array([x for _, x, _ in points])
    colors = np.array([color for _, _, color in points], dtype=np.uint8)
    own = regions[ys[nearest], xs[nearest]] == regions
    flat = flat.copy()
    flat[own] = colors[nearest[own]]
    return flat


def paint_bucket(sketch: np.ndarray, points: list[tuple[int, int, tuple]]) -> np.ndarray:
    """The no-learning baseline: each flood-fill region holding a label takes its colour."""
    regions = bucket_regions(line_mask(sketch))
    table = np.full((int(regions.max()) + 1, 3), 255, dtype=np.uint8)
    for region, color in label_region_colors(regions, points).items():
        table[region] = color
    return draw_lines(table[regions], sketch)


# ------------------------------------------------------------- matching regions to a reference

AREA_WEIGHT = 0.2
"""Cost of a log-area difference against a squared position difference (positions in units of
the drawing's size)."""
COLOUR_WEIGHT = 0.1
"""Cost of the squared colour difference (in [0, 1] per channel) between the network's output
over a frame region and a reference region's colour."""


@dataclass
class RegionLayout:
    """Regions of a drawing: where each sits in its drawing's box, how large, what colour."""

    positions: np.ndarray
    """(N, 2) centroids, (y, x) as fractions of the bounding box of the drawing's lines."""
    log_areas: np.ndarray
    """(N,) log of the area as a share of the lines' bounding box (so sizes compare across
    resolutions)."""
    colours: np.ndarray
    """(N, 3) uint8 median colours."""


def region_places(regions: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the regions (H, W) int of a drawing whose lines are `lines` sit and how large
    they are: RegionLayout's positions and log_areas."""
    index = np.arange(1, int(regions.max()) + 1)
    area = np.asarray(ndimage.sum(np.ones(regions.shape), np.where(lines, 0, regions), index))
    centres = np.array(ndimage.center_of_mass(np.ones(regions.shape), regions, index))
    ys, xs = np.nonzero(lines) if lines.any() else np.nonzero(np.ones_like(lines))
    low = np.array([ys.min(), xs.min()])
    extent = np.maximum(np.array([np.ptp(ys), np.ptp(xs)]), 1)
    shares = (area + 1) / (extent[0] * extent[1])
    return (centres.reshape(-1, 2) - low) / extent, np.log(shares)


def region_layout(picture: np.ndarray, regions: np.ndarray, lines: np.ndarray) -> RegionLayout:
    """The layout of `regions` (H, W) int of a picture (H, W, 3) uint8 whose lines are `lines`:
    their places, and their median colours off the lines."""
    inside = np.where(lines, 0, regions)
    colours = region_medians(picture, inside, int(regions.max()))[1:]
    return RegionLayout(*region_places(regions, lines), colours=colours)


def matched_colours(frame: RegionLayout, reference: RegionLayout) -> np.ndarray:
    """(N, 3) uint8: each frame region the colour of the reference region it matches best: the
    nearest in place within the drawing and in size, and nearest the network's colour there
    (a frame's `colours` are the network output's medians). Matching regions by their layout
    fills a frame from a keyframe as region-matching colorizers do (BasicPBC, CVPR 2024)."""
    place = ((frame.positions[:, None] - reference.positions[None]) ** 2).sum(-1)
    size = (frame.log_areas[:, None] - reference.log_areas[None]) ** 2
    difference = (frame.colours[:, None].astype(np.float64) - reference.colours[None]) / 255
    cost = place + AREA_WEIGHT * size + COLOUR_WEIGHT * (difference**2).sum(-1)
    return reference.colours[cost.argmin(1)]


def snap_to_colors(colors: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Each colour (N, 3) uint8 replaced by the nearest of `allowed` (M, 3) uint8 (RGB
    distance)."""
    if len(allowed) == 0:
        return colors
    distance = ((colors[:, None, :].astype(np.int32) - allowed[None].astype(np.int32)) ** 2).sum(-1)
    return allowed[distance.argmin(1)]
