"""Line regions, flattening and the paint bucket on drawn shapes with known regions and gaps."""

import numpy as np

from sketchcolor.data.regions import (
    bucket_regions,
    flatten_colors,
    label_points,
    line_mask,
    paint_bucket,
    segment_regions,
)
from tests.support.sketches import RED, boxed_sketch


def test_two_closed_regions_are_found_exactly():
    regions = segment_regions(line_mask(boxed_sketch(0)), gap_radius=2)
    assert len(np.unique(regions[1:-1, 1:31])) == 1
    assert len(np.unique(regions[1:-1, 33:-1])) == 1
    assert regions[10, 10] != regions[10, 50]


def test_a_2px_gap_is_closed_and_nothing_leaks():
    sketch = boxed_sketch(2)
    regions = segment_regions(line_mask(sketch), gap_radius=2)
    assert regions[10, 10] != regions[10, 50]
    flat = flatten_colors(np.full_like(sketch, 128), sketch, regions, [(20, 10, RED)])
    assert tuple(flat[40, 5]) == RED  # the whole left region, far from the label
    assert tuple(flat[40, 50]) == (128, 128, 128)  # the right region keeps the network's colour
    assert tuple(flat[10, 31]) == (0, 0, 0)  # lines drawn back on top


def test_the_paint_bucket_leaks_through_the_same_gap():
    sketch = boxed_sketch(2)
    assert bucket_regions(line_mask(sketch)).max() == 1
    filled = paint_bucket(sketch, [(20, 10, RED)])
    assert tuple(filled[40, 50]) == RED


def test_unlabelled_regions_take_the_median_of_the_output():
    sketch = boxed_sketch(0)
    output = np.zeros_like(sketch)
    output[:, 33:] = (10, 200, 30)
    output[5:8, 40:44] = (250, 0, 0)  # a few outliers do not move the median
    flat = flatten_colors(output, sketch, segment_regions(line_mask(sketch)), [])
    assert tuple(flat[50, 50]) == (10, 200, 30)


def test_a_small_region_takes_its_own_pixels_median_not_its_lines():
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[20:29, 20:29] = 0  # a 9 px ring around a 3x3 eye: 72 line pixels, 9 of its own
    sketch[23:26, 23:26] = 255
    output = np.full_like(sketch, 40)
    output[23:26, 23:26] = (250, 250, 250)
    regions = segment_regions(line_mask(sketch), gap_radius=1)
    flat = flatten_colors(output, sketch, regions, [])
    assert tuple(flat[24, 24]) == (250, 250, 250)


def test_two_labels_in_one_region_each_colour_their_own_side():
    sketch = boxed_sketch(0)
    sketch[:, 31:33] = 255  # one region: a colour area with no line between its two colours
    regions = segment_regions(line_mask(sketch))
    blue = (0, 0, 255)
    flat = flatten_colors(
        np.full_like(sketch, 128), sketch, regions, [(30, 10, RED), (30, 50, blue)]
    )
    assert tuple(flat[50, 5]) == RED and tuple(flat[50, 58]) == blue
    one = flatten_colors(np.full_like(sketch, 128), sketch, regions, [(30, 10, RED)])
    assert tuple(one[50, 58]) == RED  # a single label still fills its whole region


def three_columns() -> np.ndarray:
    """A 64 px frame split into three regions by vertical 2 px lines at x = 20 and x = 42."""
    sketch = boxed_sketch(0)
    sketch[:, 31:33] = 255
    sketch[:, 20:22] = 0
    sketch[:, 42:44] = 0
    return sketch


def test_a_stroke_across_lines_colours_every_region_it_crosses():
    sketch = three_columns()
    lines = line_mask(sketch)
    regions = segment_regions(lines)
    mask = np.zeros((64, 64), bool)
    mask[28:34, 6:58] = True  # one 6 px stroke over all three columns
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[mask] = RED
    points = label_points(mask, rgb, regions, lines)
    assert sorted(int(regions[y, x]) for y, x, _ in points) == sorted(
        int(regions[30, x]) for x in (10, 32, 52)
    )
    assert {color for _, _, color in points} == {RED}
    flat = flatten_colors(np.full_like(sketch, 128), sketch, regions, points)
    assert all(tuple(flat[50, x]) == RED for x in (10, 32, 52))
    # Without the regions the stroke is one label, one point: one region coloured (the old way).
    assert len(label_points(mask, rgb)) == 1


def test_a_dot_overlapping_a_line_colours_only_its_own_region():
    sketch = three_columns()
    lines = line_mask(sketch)
    regions = segment_regions(lines)
    mask = np.zeros((64, 64), bool)
    mask[22:38, 7:23] = True  # a 16 px dot centred at x = 15: 1 px over the line at x = 20-21
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[mask] = RED
    points = label_points(mask, rgb, regions, lines)
    assert [int(regions[y, x]) for y, x, _ in points] == [int(regions[30, 10])]
    flat = flatten_colors(np.full_like(sketch, 128), sketch, regions, points)
    assert tuple(flat[50, 10]) == RED and tuple(flat[50, 32]) == (128, 128, 128)


def test_touching_strokes_of_two_colours_keep_each_colour():
    sketch = three_columns()
    lines = line_mask(sketch)
    regions = segment_regions(lines)
    mask = np.zeros((64, 64), bool)
    mask[10:16, 24:40] = True  # two strokes meeting inside the middle column
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[10:16, 24:32] = RED
    rgb[10:16, 32:40] = (0, 0, 255)
    points = label_points(mask, rgb, regions, lines)
    assert sorted(color for _, _, color in points) == [(0, 0, 255), RED]
    flat = flatten_colors(np.full_like(sketch, 128), sketch, regions, points)
    assert tuple(flat[50, 25]) == RED and tuple(flat[50, 39]) == (0, 0, 255)


def test_an_unlabelled_region_keeps_the_parts_the_network_paints_apart():
    """A figure joined to the ground through a gap is one region; where the network paints
    the figure and the ground apart, each large part keeps its colour; specks do not."""
    sketch = boxed_sketch(0)
    output = np.full_like(sketch, 250)
    output[:, 33:42] = (10, 200, 30)  # the right region: green at its left, mostly white
    output[50:53, 55:58] = (0, 0, 250)  # a 9 px speck, under OUTPUT_PART_SHARE of 64 x 64
    regions = segment_regions(line_mask(sketch))
    flat = flatten_colors(output, sketch, regions, [])
    assert tuple(flat[40, 36]) == (10, 200, 30) and tuple(flat[40, 58]) == (250, 250, 250)
    assert tuple(flat[51, 56]) == (250, 250, 250)
    labelled = flatten_colors(output, sketch, regions, [(20, 40, RED)])
    assert tuple(labelled[40, 36]) == RED and tuple(labelled[40, 58]) == RED  # a label rules


def test_a_thin_halo_along_an_outline_takes_the_region_colour():
    sketch = boxed_sketch(0)
    output = np.full_like(sketch, 250)
    output[1:-1, 33:35] = (120, 80, 40)  # a 2 px band along the dividing line, 124 px
    output[1:-1, 60:62] = (120, 80, 40)
    flat = flatten_colors(output, sketch, segment_regions(line_mask(sketch)), [])
    assert tuple(flat[40, 34]) == (250, 250, 250) and tuple(flat[40, 61]) == (250, 250, 250)
