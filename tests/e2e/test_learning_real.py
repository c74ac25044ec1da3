"""Training learns on real line art: OpenMoji pairs rendered in the test run (the designer's
own line layers), a small-run hints model with labels spread over their regions, scored by
the interactive benchmark against the paint bucket, and a model R of the reference control,
scored on warped frames with their own colours and another sketch's as the reference.

The pairs are 240 emoji spread over the collection at 128 px (trained at 256 px, as Model 1
needs); numbers in the docstrings were measured on the 2-core CPU of the development VM: about
13 min for the module (600 steps of the hints recipe, 200 of model R, the benchmarks). Skipped
without the openmoji extra.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("resvg_py", reason="the openmoji extra is not installed")

from sketchcolor.data.shards.write import ShardConfig, prepare_shards  # noqa: E402
from sketchcolor.data.sources.openmoji import write_openmoji_pairs  # noqa: E402
from sketchcolor.evaluation.interactive import interactive_benchmark  # noqa: E402
from sketchcolor.training.loop import train  # noqa: E402
from sketchcolor.training.presets import small_run_config  # noqa: E402
from sketchcolor.util.images import to_uint8  # noqa: E402

STEPS = 200
HINTS_STEPS = 600  # the colour classes learn fills after 200 steps, not before


@pytest.fixture(scope="module")
def openmoji_shards(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("openmoji")
    write_openmoji_pairs(root / "pairs", size=128, limit=240, progress=False)
    prepare_shards(root / "pairs", root / "shards", ShardConfig(shard_size=64, seed=0),
                   progress=False)  # fmt: skip
    return root / "shards"


@pytest.fixture(scope="module")
def benchmark(openmoji_shards, tmp_path_factory):
    run = train(small_run_config(openmoji_shards, tmp_path_factory.mktemp("runs") / "hints",
                                 color_control="hints", max_steps=HINTS_STEPS, hint_placement="dots",
                                 hint_spread="regions", upsampling="resize"))  # fmt: skip
    result = interactive_benchmark([run], openmoji_shards, hint_counts=(0, 16), flatten=True,
                                   backend="torch")  # fmt: skip
    return {(row["name"], row["labels"]): row for row in result.rows}


def test_spread_labels_colour_their_regions_on_real_line_art(benchmark):
    """The recipe's label copy gate. Measured (600 steps): colour accuracy of the network
    alone 0.206 without labels, 0.770 with 16; the paint bucket 0.727 at 16; the paper's RGB
    output (color_classes=0, copy_labels=False) 0.273 at 16 after 200 steps, where the recipe
    already had 0.750. Asserted: 16 labels reach 0.6 (the gate puts a label's exact colour in
    its region; the RGB output blurs it) and at least double the accuracy without labels, so
    a model that ignores its labels fails."""
    alone, labelled = benchmark[("hints", 0)]["accuracy"], benchmark[("hints", 16)]["accuracy"]
    assert labelled >= max(2 * alone, 0.6), (alone, labelled)


def test_colour_classes_paint_fills_without_labels_on_real_line_art(benchmark):
    """The recipe's 32 colour classes. Measured without labels: the network alone 0.206 after
    600 steps (0.028 after 200: the fills come later than the labels); the paper's RGB output
    0.064 after 200 steps, its median brown, which does not move with more steps
    (docs/learning.md section 8: 0.008 after 1,200 on the quickstart's data). Asserted: at
    least 0.12 without labels, which a network painting the median of every fill cannot reach.
    (Painting every pixel the commonest fill, OpenMoji's yellow, would score 0.191 here: the
    fills are right where the class is common, not yet where it is rare.)"""
    assert benchmark[("hints", 0)]["accuracy"] >= 0.12, benchmark[("hints", 0)]


def test_flattening_beats_the_paint_bucket_on_real_line_art(benchmark):
    """Measured at 16 labels: the bucket 0.727, the run flattened 0.806 (no fill leaks through
    a gap, and two labels in one region each colour their side). Asserted: flattened at least
    the bucket's accuracy."""
    bucket = benchmark[("paint bucket", 16)]["accuracy"]
    flat = benchmark[("hints + flatten", 16)]["accuracy"]
    assert flat >= bucket, (bucket, flat)


@pytest.fixture(scope="module")
def reference_scores(openmoji_shards, tmp_path_factory):
    """Model R trained on the reference control, scored on warped val frames with each
    sketch's own colours as the reference, and with another sketch's."""
    from sketchcolor.data.controls.reference import warp_pair
    from sketchcolor.evaluation.interactive import Split, load_engines, load_split
    from sketchcolor.evaluation.reference_benchmark import (
        accuracy_of,
        check_colorizers,
        colour_frames,
        flatten_all,
    )

    run = train(small_run_config(openmoji_shards, tmp_path_factory.mktemp("runs") / "reference",
                                 model="R", color_control="reference", max_steps=STEPS,
                                 hint_zero_fraction=0.5, color_classes=0,
                                 copy_labels=False))  # fmt: skip
    loaded, size = load_engines([run], openmoji_shards, "torch", torch.device("cpu"), None)
    (colorizer,) = check_colorizers(loaded, torch.device("cpu"))
    data = load_split(openmoji_shards, "val", size, None, "torch")
    frames = Split(data.keys, *warp_pair(data.sketch, data.color, "medium", seed=0), data.palette)
    scores = {}
    for name, reference in (("own", data.color), ("another's", data.color.roll(1, 0))):
        output = colour_frames(colorizer, frames, reference, data.palette, batch_size=16)
        scores[name] = accuracy_of(output, frames)
        flat = flatten_all(output, frames, to_uint8(reference))
        scores[f"{name} flattened"] = accuracy_of(flat, frames)
    return scores


def test_the_references_colours_land_on_warped_frames_of_real_line_art(reference_scores):
    """Measured (200 steps, medium warps of the 24 val sketches): the network alone 0.093 with
    each sketch's own colours as the reference, 0.070 with another sketch's (1.33x);
    flattened as colorize flattens (regions matched to the reference's) 0.529 against 0.085.
    Asserted: the own reference helps the network alone by at least 10%, so a network that
    ignored its reference (the same accuracy either way) fails; and flattened its colours land
    on at least 0.4 of the pixels, three times another reference's (that part is the region
    matching on real line art, which holds for an untrained network too)."""
    scores = reference_scores
    assert scores["own"] >= 1.1 * scores["another's"], scores
    assert scores["own flattened"] >= max(0.4, 3 * scores["another's flattened"]), scores
