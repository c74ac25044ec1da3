"""Make sketch/colour pairs from a folder of colour images: `sketchcolor pairs SRC OUT`.

Every image under SRC (recursive; PNG, JPEG, WebP, BMP; any size) is decoded (EXIF rotation
applied, transparency composited on white), made square by a centre crop or by white padding,
resized to S x S with an antialiased filter, and its line art is drawn by
sketchcolor.data.sources.line_art (batched with torch, on the CPU or a GPU). The pair is written as
OUT/data/{train,val}/NAME.png, 2S wide and S high, colour left and line art right: the Kaggle
layout that `sketchcolor shards OUT SHARDS` reads unchanged. NAME is the file's path under SRC
without its suffix, folders joined by "__"; the split is `hash_split(NAME.png)`, the function
`shards` uses for a flat folder, so a pair's split never changes when files come and go.

The same images and options on the same device give the same bytes: every stage is
deterministic and a line drawing never depends on which images share its batch (so
`--batch-size`, `--workers` and a resume change the speed only). Each pair is written to `NAME.png.partial` and renamed when
whole. OUT/pairs.json records the options when the run starts; a re-run with the same options
writes only the pairs that are missing, a re-run with other options is refused. Files that
cannot be used are skipped, and OUT/pairs-report.json lists them with their reasons.

Usage: result = make_pairs(Path("my-images"), Path("my-pairs"), PairsConfig(size=512))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from sketchcolor.config import RESAMPLING_FILTERS, PairsConfig  # there: `pairs --help` is quick
from sketchcolor.data.sources.pairs import (
    IMAGE_SUFFIXES,
    SPLITS,
    InvalidPair,
    composite_on_white,
    hash_split,
    is_grayscale,
    join_halves,
    open_image,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.files import write_text_atomically

FORMAT = "sketchcolor-pairs/1"
RECORD = "pairs.json"
REPORT = "pairs-report.json"
PARTIAL = ".partial"
FOLDER_JOIN = "__"  # joins the folders of a source path into one output name
RESAMPLING = {name: getattr(Image.Resampling, name.upper()) for name in RESAMPLING_FILTERS}
"""Pillow's filter for each name `--resample` takes."""
# Fixed, so the same pixels give the same bytes; 3 as in `shards`: measured at 256 px, 2.4x
# faster than zlib's default 6 for files 1.7% larger.
PNG_COMPRESS_LEVEL = 3
WHITE = (255, 255, 255)


@dataclasses.dataclass(kw_only=True)
class PlannedPair:
    """One source image and where its pair goes."""

    source: str  # path under SRC, "/"-separated
    name: str  # output file name, NAME.png
    split: str

    def output(self, out: Path) -> Path:
        return out / "data" / self.split / self.name


@dataclasses.dataclass(kw_only=True)
class PairsResult:
    """What make_pairs did."""

    counts: dict
    """Pairs present in OUT per split after this call."""
    written_now: int
    """Pairs written by this call (0 when OUT was already complete)."""
    skipped: list
    """[{"file": path under SRC, "reason": ...}] for every image that could not be used."""
    seconds: dict
    """Seconds per stage in this call: decode (read + resize), extract, encode (PNG + write)."""
    device: str
    orphans: list = dataclasses.field(default_factory=list)
    """Pair files in OUT/data that no image under SRC makes any more (their image was removed
    or renamed); kept, since they may be wanted, but `shards` would read them too."""

    def summary(self) -> str:
        counts = ", ".join(f"{split} {count}" for split, count in self.counts.items())
        total = sum(self.counts.values())
        orphans = f", {len(self.orphans)} without a source image" if self.orphans else ""
        return (
            f"{total} pairs ({counts}), {self.written_now} written now, "
            f"{len(self.skipped)} skipped{orphans}"
        )


def make_pairs(
    source: Path, out: Path, config: PairsConfig, *, progress: bool = True
) -> PairsResult:
    """Write (or complete) the pairs of every image under `source` into `out`."""
    source, out = Path(source).resolve(), Path(out).resolve()
    plan, skipped = plan_pairs(source, out)
    prepare_output_folder(out, config)
    pending = [item for item in plan if not item.output(out).exists()]
    device = resolve_device(config.device)
    seconds = {"decode": 0.0, "extract": 0.0, "encode": 0.0}
    written_now, unusable = run_batches(
        pending, source, out, config, device, seconds, progress=progress
    )
    skipped = sorted(skipped + unusable, key=lambda item: item["file"])
    counts = {split: 0 for split in SPLITS}
    for item in plan:
        if item.output(out).exists():
            counts[item.split] += 1
    result = PairsResult(
        counts=counts,
        written_now=written_now,
        skipped=skipped,
        seconds=seconds,
        device=device,
        orphans=find_orphans(out, plan),
    )
    write_report(out, config, result)
    return result


def plan_pairs(source: Path, out: Path) -> tuple[list[PlannedPair], list[dict]]:
    """Every image under `source` (sorted) with its output name and split; name clashes skipped.

    Files inside `out` are left out, so OUT may lie inside SRC.
    """
    if not source.is_dir():
        raise SketchcolorError(f"{source}: not a folder")
    files = sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.is_relative_to(out)
    )
    if not files:
        raise SketchcolorError(f"{source}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    plan, skipped, taken = [], [], {}
    for relative in files:
        name = output_name(relative)
        if name in taken:
            skipped.append(
                {"file": relative, "reason": f"output name {name} already taken by {taken[name]}"}
            )
            continue
        taken[name] = relative
        plan.append(PlannedPair(source=relative, name=name, split=hash_split(name)))
    return plan, skipped


def find_orphans(out: Path, plan: list[PlannedPair]) -> list[str]:
    """Pair files under OUT/data that the plan does not make, as paths relative to OUT."""
    expected = {item.output(out) for item in plan}
    return sorted(
        path.relative_to(out).as_posix()
        for split in SPLITS
        for path in (out / "data" / split).glob("*.png")
        if path not in expected
    )


def output_name(relative: str) -> str:
    """ "photos/2024/cat.JPG" -> "photos__2024__cat.png"."""
    stem = relative.rsplit(".", 1)[0]
    return stem.replace("/", FOLDER_JOIN) + ".png"


def prepare_output_folder(out: Path, config: PairsConfig) -> None:
    """Create OUT with its record, or check that an existing OUT was made with these options."""
    record = {"format": FORMAT, "options": config.fingerprint()}
    record_path = out / RECORD
    if record_path.exists():
        existing = json.loads(record_path.read_text())
        if existing != record:
            raise SketchcolorError(
                f"{out} holds pairs made with other options ({record_path}); use the same "
                "options to complete it, or choose a new output folder"
            )
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SketchcolorError(
            f"{out} exists, is not empty and holds no {RECORD}; choose an empty or new folder"
        )
    for split in SPLITS:
        folder = out / "data" / split
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(f"*{PARTIAL}"):
            leftover.unlink()  # a pair cut short by an interrupted run; it is written again
    if not record_path.exists():
        write_text_atomically(record_path, json.dumps(record, indent=2) + "\n")


def resolve_device(device: str) -> str:
    from sketchcolor.util.devices import choose_device

    return str(choose_device(device))


def run_batches(
    pending: list[PlannedPair],
    source: Path,
    out: Path,
    config: PairsConfig,
    device: str,
    seconds: dict,
    *,
    progress: bool,
) -> tuple[int, list[dict]]:
    """Decode (threads) -> extract (device) -> encode and write (threads), batch after batch.

    The next batch is decoded while this one is extracted; a batch's writes finish before the
    batch after it is encoded, so memory holds about three batches.
    """
    from tqdm import tqdm

    batches = [
        pending[i : i + config.batch_size] for i in range(0, len(pending), config.batch_size)
    ]
    bar = tqdm(total=len(pending), desc="pairs", unit="pair", disable=not progress)
    written, skipped = 0, []
    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        decoding = _submit_decodes(pool, batches[:1], source, config, seconds)
        writing: list[Future] = []
        for index, batch in enumerate(batches):
            decoded = [future.result() for future in decoding]
            decoding = _submit_decodes(
                pool, batches[index + 1 : index + 2], source, config, seconds
            )
            good = [
                (item, colour)
                for item, colour in zip(batch, decoded, strict=True)
                if not isinstance(colour, str)
            ]
            skipped.extend(
                {"file": item.source, "reason": reason}
                for item, reason in zip(batch, decoded, strict=True)
                if isinstance(reason, str)
            )
            if not good:
                bar.update(len(batch))
                continue
            lines = _extract(np.stack([colour for _, colour in good]), config, device, seconds)
            for future in writing:
                written += future.result()
            writing = [
                pool.submit(_encode_and_write, item, colour, line, out, seconds)
                for (item, colour), line in zip(good, lines, strict=True)
            ]
            bar.update(len(batch))
        written += sum(future.result() for future in writing)
    bar.close()
    return written, skipped


def _submit_decodes(pool, batches, source, config, seconds) -> list[Future]:
    return [
        pool.submit(_timed, seconds, "decode", load_colour, source / item.source, config)
        for batch in batches
        for item in batch
    ]


_CLOCK_LOCK = threading.Lock()


def _add_seconds(seconds: dict, stage: str, started: float) -> None:
    """seconds[stage] += the time since `started`; locked, since worker threads add at once."""
    elapsed = time.perf_counter() - started
    with _CLOCK_LOCK:
        seconds[stage] += elapsed


def _timed(seconds: dict, stage: str, function, *args):
    """Run function(*args), adding its seconds to seconds[stage]; InvalidPair becomes its reason."""
    started = time.perf_counter()
    try:
        return function(*args)
    except InvalidPair as reason:
        return str(reason)
    finally:
        _add_seconds(seconds, stage, started)


def load_colour(path: Path, config: PairsConfig) -> np.ndarray:
    """Decode, check and square one colour image: uint8 (S, S, 3). Raises InvalidPair."""
    image = open_image(path)
    try:
        image = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, SyntaxError, OSError) as error:  # a malformed EXIF block
        raise InvalidPair(f"corrupt EXIF orientation ({error})") from None
    colourless = image.mode in ("1", "L", "LA", "La", "I", "I;16", "F")
    if colourless and not config.allow_grayscale:
        raise InvalidPair(f"grayscale image (mode {image.mode}); --allow-grayscale keeps it")
    has_alpha = "A" in image.mode or "transparency" in image.info
    if image.mode in ("I", "I;16", "F"):  # 16-bit or float grey: scale to 8 bits first
        image = Image.fromarray(_to_uint8(np.asarray(image)))
    image = composite_on_white(image) if has_alpha else image.convert("RGB")
    width, height = image.size
    square_side = min(width, height) if config.fit == "crop" else max(width, height)
    if square_side < config.smallest_side:
        raise InvalidPair(
            f"too small: {width}x{height}, its square side {square_side} is under "
            f"{config.smallest_side} (--min-size)"
        )
    colour = np.asarray(square_and_resize(image, config))
    if not config.allow_grayscale and is_grayscale(colour):
        raise InvalidPair("grayscale image (R, G and B are equal); --allow-grayscale keeps it")
    return colour


def _to_uint8(values: np.ndarray) -> np.ndarray:
    top = 65535.0 if values.max() > 255 else 255.0
    return np.clip(np.rint(values.astype(np.float64) * 255.0 / top), 0, 255).astype(np.uint8)


def square_and_resize(image: Image.Image, config: PairsConfig) -> Image.Image:
    """Centre-crop or white-pad to a square, then resize to size x size (antialiased)."""
    size, resample = config.size, RESAMPLING[config.resample]
    width, height = image.size
    if config.fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        box = (left, top, left + side, top + side)
        return image.resize((size, size), resample, box=box)
    return ImageOps.pad(image, (size, size), method=resample, color=WHITE)


def _extract(colours: np.ndarray, config: PairsConfig, device: str, seconds: dict) -> np.ndarray:
    """Line art of a uint8 (N, S, S, 3) batch as uint8 (N, S, S)."""
    import torch

    from sketchcolor.data.sources.line_art import extract_line_art

    started = time.perf_counter()
    # Channels made contiguous first: the filters then walk memory in order (measured 1.7x
    # faster on the CPU than working on the permuted view).
    batch = torch.from_numpy(colours).to(device).permute(0, 3, 1, 2).contiguous().float() / 255
    with torch.inference_mode():
        lines = extract_line_art(batch, config.line_art)
    pixels = (lines[:, 0] * 255).round().to(torch.uint8).cpu().numpy()
    _add_seconds(seconds, "extract", started)
    return pixels


def _encode_and_write(
    item: PlannedPair, colour: np.ndarray, line: np.ndarray, out: Path, seconds: dict
) -> int:
    """PNG of colour | line art, written to NAME.png.partial and renamed; returns 1."""
    started = time.perf_counter()
    sketch = np.repeat(line[:, :, None], 3, axis=2)  # the Kaggle sketches are RGB files
    path = item.output(out)
    partial = path.with_name(path.name + PARTIAL)
    Image.fromarray(join_halves(colour, sketch)).save(
        partial, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    os.replace(partial, path)
    _add_seconds(seconds, "encode", started)
    return 1


def write_report(out: Path, config: PairsConfig, result: PairsResult) -> None:
    """OUT/pairs-report.json: counts, skipped files with reasons, options and this run's facts."""
    report = {
        "format": FORMAT,
        "counts": result.counts,
        "skipped": result.skipped,
        "orphans": result.orphans,
        "options": dataclasses.asdict(config),
        "options_sha256": hashlib.sha256(
            json.dumps(config.fingerprint(), sort_keys=True).encode()
        ).hexdigest(),
        "last_run": {
            "written": result.written_now,
            "device": result.device,
            "seconds": {stage: round(value, 3) for stage, value in result.seconds.items()},
        },
    }
    write_text_atomically(out / REPORT, json.dumps(report, indent=2) + "\n")
