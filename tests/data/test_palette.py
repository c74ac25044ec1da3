"""Palette engines: exact recovery of flat colours, sorted by share, as good as scipy k-means."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.cluster.vq import kmeans2

from sketchcolor.data.controls.kmeans import (
    extract_palette,
    extract_palettes,
    quantisation_error,
    resolve_engine,
)
from sketchcolor.errors import SketchcolorError

CPU_ENGINES = ["faiss-cpu", "torch"]
COLORS = np.array(
    [[230, 30, 30], [30, 200, 40], [20, 40, 220], [250, 240, 10], [0, 0, 0],
     [255, 255, 255], [130, 60, 200], [20, 220, 220], [240, 130, 20]],
    np.uint8,
)  # fmt: skip


def _striped_image(widths):
    """Vertical stripes of COLOURS[i] with widths[i] columns each: known shares."""
    columns = np.concatenate([np.full(width, index) for index, width in enumerate(widths)])
    return np.repeat(COLORS[columns][None], 64, axis=0)  # (64, W, 3)


def _synth_color_halves(synth_root):
    halves = []
    for path in sorted((synth_root / "data" / "train").glob("*.png"))[:8]:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        halves.append(np.ascontiguousarray(pixels[:, : pixels.shape[0]]))
    return halves


@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_recovers_flat_colors_in_share_order(engine):
    widths = [20, 12, 10, 7, 5, 4, 3, 2, 1]  # 64 columns: the 64x64 sample keeps every one
    image = _striped_image(widths)
    palette, shares = extract_palette(image, engine=engine)
    assert palette.shape == (9, 3) and palette.dtype == np.float32
    np.testing.assert_allclose(palette * 255, COLORS.astype(np.float32), atol=0.01)
    assert np.all(np.diff(shares) <= 0)
    assert shares.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(shares, np.array(widths) / sum(widths), atol=0.02)


@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_deterministic_and_batched_equals_single(engine, synth_root):
    halves = _synth_color_halves(synth_root)
    first = extract_palettes(halves, engine=engine, seed=3)
    second = extract_palettes(np.stack(halves), engine=engine, seed=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    single, _ = extract_palette(halves[2], engine=engine, seed=3)
    if engine == "faiss-cpu":  # faiss solves each image alone, so batching cannot change it
        np.testing.assert_array_equal(single, first[0][2])


@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_as_good_as_scipy_kmeans(engine, synth_root):
    halves = _synth_color_halves(synth_root)
    palettes, shares = extract_palettes(halves, engine=engine)
    assert np.all(np.diff(shares, axis=1) <= 0)
    np.testing.assert_allclose(shares.sum(1), 1.0, atol=1e-5)
    assert halves  # a loop over nothing would pass
    for half, palette in zip(halves, palettes, strict=True):
        pixels = half.reshape(-1, 3).astype(np.float64) / 255
        # Independent reference on every pixel: best of 3 scipy k-means++ runs.
        reference = min(
            quantisation_error(half, kmeans2(pixels, 9, minit="++", seed=seed)[0])
            for seed in range(3)
        )
        ours = quantisation_error(half, palette)
        assert ours <= 1.5 * reference + 1e-4, (ours, reference)


def test_engines_agree_on_quality(synth_root):
    halves = _synth_color_halves(synth_root)
    errors = {}
    for engine in CPU_ENGINES:
        palettes, _ = extract_palettes(halves, engine=engine)
        errors[engine] = np.mean(
            [quantisation_error(h, p) for h, p in zip(halves, palettes, strict=True)]
        )
    assert errors["torch"] <= 1.3 * errors["faiss-cpu"] + 1e-4
    assert errors["faiss-cpu"] <= 1.3 * errors["torch"] + 1e-4


def test_images_of_different_sizes_and_few_colors():
    small = np.zeros((5, 7, 3), np.uint8)
    small[:, 3:] = (200, 10, 10)
    large = _striped_image([30, 30, 0, 0, 0, 0, 0, 0, 0])
    palettes, shares = extract_palettes([small, large], engine="faiss-cpu")
    assert palettes.shape == (2, 9, 3)
    # Two colours only: the two largest centres are those colours, the rest hold no pixels.
    assert shares[1, :2].sum() == pytest.approx(1.0)
    assert {tuple(np.round(c * 255).astype(int)) for c in palettes[1, :2]} == {
        tuple(COLORS[0]),
        tuple(COLORS[1]),
    }


def test_bad_input_and_engine_names():
    with pytest.raises(SketchcolorError, match="uint8"):
        extract_palette(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(SketchcolorError, match="unknown palette engine"):
        extract_palette(np.zeros((8, 8, 3), np.uint8), engine="magic")
    assert resolve_engine("torch") == "torch"
    assert resolve_engine("auto") == "faiss-cpu"  # measured fastest (bench_palette)


@pytest.mark.gpu
def test_gpu_engines_match_cpu(synth_root):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    halves = _synth_color_halves(synth_root)
    cpu_palettes, _ = extract_palettes(halves, engine="faiss-cpu")
    cpu_error = np.mean(
        [quantisation_error(h, p) for h, p in zip(halves, cpu_palettes, strict=True)]
    )
    for engine in ("torch", "faiss-gpu"):
        if engine == "faiss-gpu":
            faiss = pytest.importorskip("faiss")
            if not hasattr(faiss, "StandardGpuResources"):
                continue
        palettes, _ = extract_palettes(halves, engine=engine)
        error = np.mean([quantisation_error(h, p) for h, p in zip(halves, palettes, strict=True)])
        assert error <= 1.3 * cpu_error + 1e-4
