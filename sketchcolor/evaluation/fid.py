"""Fréchet Inception Distance, the same numbers as pytorch-fid, without any download.

The network is pytorch-fid's own `InceptionV3` (pool3, 2048-d) built from its `FIDInception*`
blocks, so architecture, resizing and input scaling are the same by construction; only the
weights come from a local file (the torch hub cache or an explicit path). Statistics are pytorch-fid's
too (float64 mean and covariance); the distance is its value by a faster route
(`sketchcolor.evaluation.frechet`: symmetric eigenvalues instead of `scipy.linalg.sqrtm`).

Usage: fid_between_folders("generated/", "real/")  # -> float, like `python -m pytorch_fid`
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from sketchcolor.config import FidConfig
from sketchcolor.data.shards.manifest import shards_sha256
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.devices import choose_device
from sketchcolor.util.files import atomic_output, file_sha256
from sketchcolor.util.images import as_saved_pixels

WEIGHTS_FILE_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE_NAME
)
FEATURE_DIMENSIONS = 2048
# The image suffixes `python -m pytorch_fid` reads from a folder.
IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


def default_weights_path() -> Path:
    """Where torch hub (and so pytorch-fid) keeps the FID Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE_NAME


def resolve_weights_path(weights_path: str | Path | None = None) -> Path:
    """The weights file to use; a one-line error naming the file and where it goes when absent."""
    path = Path(weights_path) if weights_path is not None else default_weights_path()
    if path.is_file():
        return path
    if weights_path is not None:
        raise SketchcolorError(f"Inception weights not found: {path}")
    raise SketchcolorError(
        f"Inception weights for FID not found: put {WEIGHTS_FILE_NAME} (from {WEIGHTS_URL}) "
        f"at {path}, or pass --inception-weights PATH"
    )


def inception_weights_message(weights_path: str | Path | None = None) -> str | None:
    """None when the weights are there, else the error text saying what to put where."""
    try:
        resolve_weights_path(weights_path)
    except SketchcolorError as error:
        return str(error)
    return None


@functools.lru_cache(maxsize=8)
def weights_fingerprint(weights_path: Path) -> str:
    """A short content hash of the weights file, so cached statistics never mix networks."""
    return file_sha256(weights_path)[:16]


def build_fid_inception() -> torch.nn.Module:
    """pytorch-fid's patched torchvision Inception3 (the weights file's layout), random weights.

    This repeats `pytorch_fid.inception.fid_inception_v3` minus its `load_state_dict_from_url`
    (which would download); the blocks themselves are pytorch-fid's classes.
    """
    from pytorch_fid import inception as pf

    network = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    network.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    network.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    network.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    network.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    network.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    network.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    network.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    network.Mixed_7b = pf.FIDInceptionE_1(1280)
    network.Mixed_7c = pf.FIDInceptionE_2(2048)
    return network


def load_inception(
    weights_path: str | Path | None = None, device: torch.device | str = "cpu"
) -> torch.nn.Module:
    """pytorch-fid's `InceptionV3` (pool3 block) with weights read from a local file, eval mode.

    Input (B, 3, H, W) floats in [0, 1]; `model(x)[0]` is (B, 2048, 1, 1).
    """
    from pytorch_fid.inception import InceptionV3

    path = resolve_weights_path(weights_path)
    network = build_fid_inception()
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state_dict)
    except Exception as error:  # a truncated or foreign file: say which one
        raise SketchcolorError(f"{path}: not FID Inception weights ({error})") from error
    # InceptionV3's constructor calls fid_inception_v3(), which downloads; hand it the network
    # loaded above instead, so the wrapper (block split, resize, scaling) stays pytorch-fid's.
    with mock.patch("pytorch_fid.inception.fid_inception_v3", return_value=network):
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIMENSIONS]])
    return model.eval().to(device)


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> [0, 1], rounded to 8 bits as if saved as PNG first.

    Rounding makes FID on in-memory images equal pytorch-fid on the same images written out.
    """
    return as_saved_pixels(images)


@torch.no_grad()
def inception_features(model: torch.nn.Module, images01: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> (B, 2048) float64 pool3 features."""
    device = next(model.parameters()).device
    # contiguous: a permuted (channels-last) batch makes conv pick other kernels, and the
    # features then differ from a file's in the last digits
    pooled = model(images01.to(device, torch.float32).contiguous())[0]  # (B, 2048, 1, 1)
    return pooled.flatten(1).cpu().numpy().astype(np.float64)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (mu (D,), sigma (D, D)), as pytorch-fid computes them."""
    if len(features) < 2:
        raise SketchcolorError(f"FID needs at least 2 images, got {len(features)}")
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """pytorch-fid's Fréchet distance (its value within 1e-6 relative), ~10x faster.

    `sketchcolor.evaluation.frechet` takes tr(sqrtm(S1 S2)) from symmetric eigenvalues instead of
    scipy's `sqrtm` (about 20 s at 2048-d on 2 cores), float64, on the GPU when there is one.
    """
    from sketchcolor.evaluation.frechet import frechet_distance as fast_frechet_distance

    return fast_frechet_distance(mu1, sigma1, mu2, sigma2)


def reference_frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """pytorch-fid's own `calculate_frechet_distance` (scipy `sqrtm`): the slow reference."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    # With fewer images than feature dimensions the covariances are singular; pytorch-fid then
    # prints a notice and scipy warns. Expected here, so keep both quiet.
    with redirect_stdout(StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
        except ValueError as error:  # a large imaginary part of sqrtm: too few, too alike images
            raise SketchcolorError(f"FID is not defined for these features: {error}") from error


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two (N, 2048) feature sets."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def list_images(folder: str | Path) -> list[Path]:
    """The image files of a folder, sorted, as pytorch-fid lists them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SketchcolorError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SketchcolorError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_image01(path: Path) -> torch.Tensor:
    """One image file -> (3, H, W) float32 in [0, 1], exactly `ToTensor()(Image.convert('RGB'))`."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
    except (OSError, UnidentifiedImageError) as error:
        raise SketchcolorError(f"{path}: unreadable image ({error})") from error
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div(255)


def batches_of_same_size(files: list[Path], batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive images stacked into batches; a size change starts a new batch."""
    pending: list[torch.Tensor] = []
    for path in files:
        image = read_image01(path)
        if pending and (len(pending) == batch_size or image.shape != pending[0].shape):
            yield torch.stack(pending)
            pending = []
        pending.append(image)
    if pending:
        yield torch.stack(pending)


def folder_features(
    folder: str | Path, model: torch.nn.Module, *, batch_size: int = 50
) -> np.ndarray:
    """(N, 2048) features of every image in a folder."""
    files = list_images(folder)
    features = []
    with tqdm(total=len(files), desc=f"inception {Path(folder).name}", unit="img") as bar:
        for batch in batches_of_same_size(files, batch_size):  # (B, 3, H, W)
            features.append(inception_features(model, batch))
            bar.update(len(batch))
    return np.concatenate(features)


def load_statistics_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mu and sigma from an .npz written by pytorch-fid `--save-stats` or by us."""
    try:
        with np.load(path) as stats:
            return stats["mu"][:], stats["sigma"][:]
    except (OSError, KeyError, ValueError) as error:
        raise SketchcolorError(f"{path}: not an FID statistics .npz ({error})") from error


def is_statistics_file(path: str | Path) -> bool:
    """An .npz of saved statistics (mu, sigma), which needs no network, as pytorch-fid decides."""
    return Path(path).suffix == ".npz"


def path_statistics(
    path: str | Path, model: torch.nn.Module | None, *, batch_size: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of an image folder, or read from an .npz, as pytorch-fid accepts either.

    `model` (the Inception network) is only used for a folder; an .npz may pass None.
    """
    path = Path(path)
    if is_statistics_file(path):
        return load_statistics_file(path)
    if model is None:
        raise ValueError(f"{path}: a folder of images needs the Inception network")
    return feature_statistics(folder_features(path, model, batch_size=batch_size))


def fid_between_folders(
    path_a: str | Path,
    path_b: str | Path,
    *,
    weights_path: str | Path | None = None,
    batch_size: int = 50,
    device: torch.device | str | None = None,
) -> float:
    """FID between two image folders (or .npz statistics), like `python -m pytorch_fid A B`.

    Inception is built (and its weights needed) only when an input is a folder of images:
    two statistics files give the distance from mu and sigma alone.
    """
    if batch_size < 1:
        raise SketchcolorError(f"batch size must be at least 1, got {batch_size}")
    for path in (path_a, path_b):
        if not Path(path).exists():
            raise SketchcolorError(f"{path}: no such folder or file")
    model = None
    if not (is_statistics_file(path_a) and is_statistics_file(path_b)):
        device = choose_device(device)
        model = load_inception(weights_path, device)
    stats_a = path_statistics(path_a, model, batch_size=batch_size)
    stats_b = path_statistics(path_b, model, batch_size=batch_size)
    return frechet_distance(*stats_a, *stats_b)


def fid_of_folders(config: FidConfig) -> float:
    """`sketchcolor fid`: `fid_between_folders` with a FidConfig's options."""
    return fid_between_folders(config.path_a, config.path_b, batch_size=config.batch_size,
                               weights_path=config.inception_weights,
                               device=config.device)  # fmt: skip


def save_statistics(path: Path, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Write mu and sigma as pytorch-fid's .npz layout, atomically (temp name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        np.savez_compressed(temporary, mu=mu, sigma=sigma)


def statistics_context(decoder: str, device: torch.device | str) -> dict:
    """What besides the images changes their Inception statistics in the last digits.

    The JPEG decoder and resize (DALI's nvJPEG or libjpeg-turbo, or PIL), the device kind
    (its kernels) and TF32 convolutions/matmuls (on by default for cuDNN convolutions).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return {"decoder": decoder, "device": device.type}
    return {
        "decoder": decoder,
        "device": torch.cuda.get_device_name(device),
        "tf32": [torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32],
    }


def reference_cache_path(
    cache_dir: str | Path,
    shard_dir: str | Path,
    split: str,
    image_size: int,
    weights_path: Path,
    max_images: int | None = None,
    *,
    context: dict | None = None,
) -> Path:
    """The .npz holding the real images' statistics, keyed by the shard manifest's content.

    A changed manifest (new shards), split, size, image limit, network or `context` (decoder,
    device kind, TF32: see `statistics_context`) gives a new file, never a stale one.
    """
    key = json.dumps(
        {
            "manifest": shards_sha256(shard_dir),
            "split": split,
            "image_size": image_size,
            "weights": weights_fingerprint(weights_path),
            "max_images": max_images,
            "context": context or {},
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(cache_dir) / f"fid-reference-{split}-{image_size}-{digest}.npz"
