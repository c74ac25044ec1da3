"""9-colour palettes of colour images by k-means, behind one function with three engines.

The paper conditions the generator on a 9-colour k-means palette of the reference image. The
k-means order is arbitrary, so centres are sorted by cluster size (largest first) and each
centre's share of the pixels is returned with it. The clustering runs on a fixed 64x64
nearest-neighbour sample of the image: it keeps the exact pixel colours (no blending at edges),
makes the work per image constant, and lets the torch engine solve a whole batch at once.

Every engine starts from the same greedy k-means++ centres (several candidates per step, the
best kept, as scikit-learn does): plain k-means++ often puts two centres in one flat colour
region and misses a small one, which a flat-coloured drawing punishes. The engines then run the
same Lloyd iterations, so they agree closely.

Engines (same result format, same sampling, same initialisation):
  faiss-cpu   faiss k-means, one image at a time (shard workers run it on one thread)
  faiss-gpu   faiss k-means on the GPU, one image at a time, reusing one StandardGpuResources
              and one GPU index for every call
  torch       batched Lloyd iterations in torch: one batch of images per step, any device

Usage: palettes, shares = extract_palettes(images)   # (N, 9, 3) in [0, 1], (N, 9)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from sketchcolor.config import PALETTE_ENGINES as ENGINES
from sketchcolor.config import PALETTE_SIZE
from sketchcolor.errors import SketchcolorError

SAMPLE_SIDE = 64  # pixels per side of the clustering sample (4096 points)
ITERATIONS = 20
CANDIDATES = 4  # greedy k-means++ candidates per step: 2 + ln(9), rounded up


def extract_palette(image: np.ndarray, *, engine: str = "auto", seed: int = 0):
    """The palette of one uint8 (H, W, 3) image: ((9, 3) float32 in [0, 1], (9,) shares)."""
    palettes, shares = extract_palettes([image], engine=engine, seed=seed)
    return palettes[0], shares[0]


def extract_palettes(
    images: np.ndarray | Sequence[np.ndarray], *, engine: str = "auto", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Palettes of uint8 (N, H, W, 3) images (or a list of (H, W, 3) arrays of any sizes).

    Returns palettes (N, 9, 3) float32 RGB in [0, 1] and shares (N, 9) float32 summing to 1,
    both ordered by share, largest first. The result depends only on the pixels and `seed`.
    """
    engine = resolve_engine(engine)
    points = sample_pixels_batch(images)  # (N, P, 3) float32 in [0, 1]
    if len(points) == 0:
        empty = np.zeros((0, PALETTE_SIZE), np.float32)
        return np.zeros((0, PALETTE_SIZE, 3), np.float32), empty
    initial = greedy_kmeans_plus_plus(points, seed=seed)  # (N, 9, 3)
    if engine == "torch":
        centres = _kmeans_torch(points, initial)
    else:
        index = _gpu_index() if engine == "faiss-gpu" else _cpu_index()
        centres = np.stack(
            [_kmeans_faiss(p, start, index) for p, start in zip(points, initial, strict=True)]
        )
    return sort_by_share(points, centres)


def resolve_engine(engine: str) -> str:
    """Turn "auto" into the engine measured fastest (benchmarks/bench_palette.py).

    Measured on CPU, one thread, 256x256 images (benchmarks/README.md): faiss-cpu 387 images/s,
    torch batched 64 at a time 111 images/s, torch one at a time 100 images/s. No GPU run is recorded yet, so "auto"
    stays faiss-cpu on every machine (it also needs no CUDA context in each shard worker);
    choose "torch" or "faiss-gpu" explicitly to use a GPU.
    """
    if engine not in ENGINES:
        raise SketchcolorError(f"unknown palette engine {engine!r}; choose one of {ENGINES}")
    return "faiss-cpu" if engine == "auto" else engine


def sample_pixels(image: np.ndarray) -> np.ndarray:
    """A (SAMPLE_SIDE**2, 3) float32 nearest-neighbour sample of a uint8 (H, W, 3) image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SketchcolorError(
            f"palette input must be uint8 (H, W, 3), got {image.dtype} {image.shape}"
        )
    height, width = image.shape[:2]
    rows = (np.arange(SAMPLE_SIDE) * height) // SAMPLE_SIDE
    columns = (np.arange(SAMPLE_SIDE) * width) // SAMPLE_SIDE
    sample = image[rows[:, None], columns[None, :]]  # (64, 64, 3)
    return sample.reshape(-1, 3).astype(np.float32) / 255.0


def sample_pixels_batch(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Stack the samples of every image: (N, SAMPLE_SIDE**2, 3) float32 in [0, 1]."""
    samples = [sample_pixels(image) for image in images]
    if not samples:
        return np.zeros((0, SAMPLE_SIDE * SAMPLE_SIDE, 3), np.float32)
    return np.stack(samples)


def sort_by_share(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign points (N, P, 3) to centres (N, K, 3); order centres by share, largest first.

    Ties (equal counts) keep the lighter colour first, so the order never depends on the
    engine's arbitrary centre numbering.
    """
    labels = squared_distances(points, centres).argmin(-1)  # (N, P)
    counts = np.stack([np.bincount(row, minlength=centres.shape[1]) for row in labels])  # (N, K)
    brightness = centres.sum(-1)  # (N, K)
    # lexsort: the last key is primary; sort by count descending, then brightness descending
    order = np.stack(
        [np.lexsort((-brightness[i], -counts[i])) for i in range(len(centres))]
    )  # (N, K)
    sorted_centres = np.take_along_axis(centres, order[:, :, None], axis=1)
    shares = np.take_along_axis(counts, order, axis=1).astype(np.float32) / points.shape[1]
    return np.clip(sorted_centres, 0.0, 1.0).astype(np.float32), shares


def squared_distances(
    points: np.ndarray, centres: np.ndarray, point_norms: np.ndarray | None = None
) -> np.ndarray:
    """Squared distances (N, P, K) between points (N, P, 3) and centres (N, K, 3).

    |x - c|^2 = |x|^2 - 2 x.c + |c|^2 as one batched matmul: numpy's reduction over a
    length-3 axis was most of the palette time.
    """
    cross = points @ centres.transpose(0, 2, 1)  # (N, P, K)
    if point_norms is None:
        point_norms = np.einsum("npd,npd->np", points, points)
    centre_norms = np.einsum("nkd,nkd->nk", centres, centres)[:, None, :]
    return np.maximum(point_norms[:, :, None] - 2 * cross + centre_norms, 0)


def quantisation_error(image: np.ndarray, palette: np.ndarray) -> float:
    """Mean squared RGB distance (in [0, 1] units) from every pixel to its nearest palette colour."""
    pixels = np.asarray(image).reshape(-1, 3).astype(np.float32) / 255.0
    distances = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(-1)  # (P, K)
    return float(distances.min(-1).mean())


def greedy_kmeans_plus_plus(points: np.ndarray, *, seed: int) -> np.ndarray:
    """Greedy k-means++ seeding of every image at once: (N, P, 3) -> (N, 9, 3) centres.

    Written by hand because faiss offers only plain k-means++ and no library seeds a batch
    of problems. Each step draws CANDIDATES points by squared distance to the nearest chosen
    centre and keeps the one that lowers the total distance most.
    """
    # The same random draws for every image, so a palette never depends on its batch.
    rng = np.random.default_rng(seed)
    count, size, _ = points.shape
    first = int(rng.integers(size))
    uniforms = rng.random((PALETTE_SIZE - 1, CANDIDATES))
    batch = np.arange(count)
    chosen = [points[:, first]]  # list of (N, 3)
    norms = np.einsum("npd,npd->np", points, points)  # (N, P), reused every step
    nearest = squared_distances(points, chosen[0][:, None, :], norms)[:, :, 0]  # (N, P)
    for step in range(PALETTE_SIZE - 1):
        cumulative = np.cumsum(nearest + 1e-12, axis=1)  # (N, P)
        targets = uniforms[step][None, :] * cumulative[:, -1:]  # (N, C)
        candidates = np.stack(
            [np.searchsorted(cumulative[i], targets[i]) for i in range(count)]
        ).clip(max=size - 1)  # (N, C)
        candidate_points = points[batch[:, None], candidates]  # (N, C, 3)
        distances = squared_distances(points, candidate_points, norms).transpose(0, 2, 1)
        updated = np.minimum(nearest[:, None, :], distances)  # (N, C, P)
        best = updated.sum(-1).argmin(-1)  # (N,)
        chosen.append(candidate_points[batch, best])
        nearest = updated[batch, best]
    return np.stack(chosen, axis=1).astype(np.float32)


def _kmeans_faiss(points: np.ndarray, initial: np.ndarray, index) -> np.ndarray:
    """Lloyd iterations on one image's (P, 3) points with faiss from (9, 3) initial centres.

    `index` is reused from image to image: faiss resets it at every iteration, and building a
    GPU index (its memory, its stream) per image cost more than the k-means itself.
    """
    import faiss

    parameters = faiss.ClusteringParameters()
    parameters.niter = ITERATIONS
    # The default subsamples to 256 points per centre and warns; our sample is already small.
    parameters.max_points_per_centroid = points.shape[0]
    parameters.min_points_per_centroid = 1
    clustering = faiss.Clustering(3, PALETTE_SIZE, parameters)
    faiss.copy_array_to_vector(np.ascontiguousarray(initial).ravel(), clustering.centroids)
    clustering.train(np.ascontiguousarray(points), index)
    return faiss.vector_float_to_array(clustering.centroids).reshape(PALETTE_SIZE, 3)


@functools.cache
def _gpu_resources():
    """One StandardGpuResources for the process: creating it costs far more than a k-means."""
    import faiss

    if not hasattr(faiss, "StandardGpuResources"):
        raise SketchcolorError(
            "palette engine faiss-gpu needs the faiss GPU build (pip install faiss-gpu-cu12 "
            "in place of faiss-cpu); use --palette-engine torch or faiss-cpu instead"
        )
    return faiss.StandardGpuResources()


def _cpu_index():
    import faiss

    return faiss.IndexFlatL2(3)


@functools.cache
def _gpu_index():
    """One GPU index for the process (faiss clusters one image at a time; see _kmeans_faiss)."""
    import faiss

    return faiss.GpuIndexFlatL2(_gpu_resources(), 3)


def _kmeans_torch(points: np.ndarray, initial: np.ndarray, device=None) -> np.ndarray:
    """Batched Lloyd iterations over (N, P, 3) points from (N, 9, 3) centres.

    Written by hand because no installed library solves many small k-means problems in one
    batch: every step here is a batched tensor op, so N images cost one kernel sequence.
    """
    import torch

    from sketchcolor.util.devices import choose_device

    if device is None:
        device = choose_device()
    data = torch.from_numpy(points).to(device)  # (N, P, 3)
    centres = torch.from_numpy(initial).to(device)  # (N, K, 3)
    for _ in range(ITERATIONS):
        labels = torch.cdist(data, centres).argmin(-1)  # (N, P)
        one_hot = torch.nn.functional.one_hot(labels, PALETTE_SIZE).to(data.dtype)  # (N, P, K)
        sums = one_hot.transpose(1, 2) @ data  # (N, K, 3)
        counts = one_hot.sum(1)  # (N, K)
        updated = sums / counts.clamp(min=1)[:, :, None]
        # An empty cluster keeps its centre instead of collapsing to the origin.
        centres = torch.where(counts[:, :, None] > 0, updated, centres)
    return centres.cpu().numpy()
