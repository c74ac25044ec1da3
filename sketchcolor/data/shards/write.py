"""Turn a folder of image pairs into WebDataset shards with palettes, DALI indexes and a manifest.

The format is the contract in docs/interfaces.md. The work is planned up front and is a pure
function of the source file list and the options: every split is shuffled globally with the
seed (DALI's reader shuffles only inside a buffer), cut into shards of `shard_size` pairs, and
each shard is one task for a worker process. A worker streams its pairs (validate, split,
palette, encode) into `NAME.tar.partial`, renames it to `NAME.tar` when complete, writes the
`.idx` the same way, and records the shard in `OUT/.parts/NAME.json`. A re-run with the same
plan does only the shards without a record; the manifest is written last, and `.parts` removed.
A re-run over a finished folder from which shard files were deleted writes just those again.

`publish_shards` writes to s3://BUCKET/PREFIX: prepared in a local folder, then uploaded by
data/storage/s3.py (tars and .idx first, the manifest last).

Usage: manifest = prepare_shards(Path("raw"), Path("shards"), ShardConfig(workers=4))
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from sketchcolor.config import IMAGE_FORMATS, ShardConfig
from sketchcolor.data.shards.dali_index import IndexedTarWriter, write_dali_index
from sketchcolor.data.shards.guard import (
    LOCK_FILE,
    die_with_parent,
    exit_on_stop_signals,
    folder_lock,
    remember_written,
    remove_damaged_shards,
    stop_signals_blocked,
)
from sketchcolor.data.shards.manifest import MANIFEST_FILE, MANIFEST_FORMAT, read_manifest
from sketchcolor.data.shards.region_maps import (
    REGIONS_MEMBER,
    encode_region_map,
    pair_regions,
    region_parameters,
)
from sketchcolor.data.sources.pairs import SPLITS, InvalidPair, join_halves, list_pairs, read_pair
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.disk import describe_write_error
from sketchcolor.util.files import file_sha256, write_text_atomically
from sketchcolor.util.locations import data_location, is_remote

PARTS = ".parts"
PLAN = "plan.json"
PALETTE_CHUNK = 32  # pairs whose palettes are solved together (the torch engine batches them)
VERSIONED_LIBRARIES = ("sketchcolor", "numpy", "pillow", "faiss-cpu", "faiss-gpu-cu12", "torch")


@dataclasses.dataclass(kw_only=True)
class ShardTask:
    """One tar to write: which source files, in which order, under which keys."""

    split: str
    index: int
    first_sequence: int
    files: list[str]  # paths relative to the source folder

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:06d}"


@dataclasses.dataclass(kw_only=True)
class PrepareResult:
    """What prepare_shards did: the manifest plus facts about this run."""

    manifest: dict
    written_now: int
    """Pairs written by this call (0 when the folder was already complete)."""
    already_complete: bool
    seconds: dict
    """Seconds spent per stage summed over this call's shards: decode, palette, encode, write."""

    def summary(self) -> str:
        splits = self.manifest["splits"]
        written = sum(split["count"] for split in splits.values())
        counts = ", ".join(f"{name} {split['count']}" for name, split in splits.items())
        state = " (already complete, nothing to do)" if self.already_complete else ""
        return (
            f"{written} pairs written ({counts}), {len(self.manifest['rejected'])} rejected{state}"
        )


def prepare_shards(
    source: Path, out: Path, config: ShardConfig, *, progress: bool = True
) -> PrepareResult:
    """Write (or complete) the shards of `source` into `out`; see the module docstring."""
    from sketchcolor.data.controls.kmeans import resolve_engine

    source, out = Path(source).resolve(), Path(out).resolve()
    # Resolve "auto" once here (in every worker it would import torch to look for a GPU); the
    # plan and the manifest then name the engine that made the palettes.
    config = dataclasses.replace(config, palette_engine=resolve_engine(config.palette_engine))
    tasks = plan_tasks(source, config)
    fingerprint = plan_fingerprint(tasks, config)
    if out.exists() and not out.is_dir():
        raise SketchcolorError(f"{out}: exists and is not a folder")
    with folder_lock(out):  # a second `shards` into the same folder is refused
        existing = check_output_folder(out, fingerprint)
        if existing is not None:
            # Deleted or damaged shard files are written again; an intact folder is left alone.
            damaged = remove_damaged_shards(out)
            if not damaged and not missing_shard_files(existing, out):
                return PrepareResult(
                    manifest=existing, written_now=0, already_complete=True, seconds={}
                )
            reopen_for_repair(existing, tasks, out)
        try:
            (out / PARTS).mkdir(parents=True, exist_ok=True)
            _write_json_atomically(out / PARTS / PLAN, {"plan_sha256": fingerprint})
            pending = [task for task in tasks if not _shard_done(out, task)]
            written_now, seconds = run_tasks(pending, source, out, config, progress=progress)
            manifest = build_manifest(tasks, out, config, fingerprint)
            _write_json_atomically(out / MANIFEST_FILE, manifest)
        except OSError as error:
            raise SketchcolorError(
                f"{error.filename or out}: cannot write ({describe_write_error(error)}); the "
                "shards finished so far are kept: free space and re-run the same command"
            ) from None
        shutil.rmtree(out / PARTS)
        remember_written(manifest, out, {f"{task.name}.tar" for task in pending})
    return PrepareResult(
        manifest=manifest, written_now=written_now, already_complete=False, seconds=seconds
    )


def publish_shards(
    source: Path, url: str, config: ShardConfig, *, progress: bool = True
) -> PrepareResult:
    """`sketchcolor shards SRC s3://...`: prepare the shards in a local folder under the shard
    cache (resumable like any output folder), upload them (manifest last), then remove it.
    A prefix already complete for the same plan is left alone; one of another plan refused."""
    from sketchcolor.data.controls.kmeans import resolve_engine
    from sketchcolor.data.storage.s3 import (
        data_location,
        remote_manifest,
        shard_cache_root,
        split_url,
        upload_folder,
    )

    url = str(data_location(url))
    resolved = dataclasses.replace(config, palette_engine=resolve_engine(config.palette_engine))
    existing = remote_manifest(url)
    if existing is not None:
        fingerprint = plan_fingerprint(plan_tasks(Path(source).resolve(), resolved), resolved)
        if existing.get("plan_sha256") != fingerprint:
            raise SketchcolorError(
                f"{url} already holds complete shards of another source or other options; "
                "choose a new prefix or delete this one"
            )
        return PrepareResult(manifest=existing, written_now=0, already_complete=True, seconds={})
    bucket, prefix = split_url(url)
    local = shard_cache_root() / "upload" / bucket / prefix
    result = prepare_shards(Path(source), local, config, progress=progress)
    upload_folder(local, url, progress=progress)
    shutil.rmtree(local, ignore_errors=True)
    return result


def write_shards(
    source: Path, out: str | Path, config: ShardConfig, *, progress: bool = True
) -> PrepareResult:
    """`sketchcolor shards SRC OUT`: `prepare_shards` into a folder, or `publish_shards` to an
    s3:// URL; SIGINT or SIGTERM ends the run with one line (guard.exit_on_stop_signals)."""
    out = data_location(out)
    with exit_on_stop_signals(out):
        if is_remote(out):
            return publish_shards(source, out, config, progress=progress)
        return prepare_shards(source, out, config, progress=progress)


def plan_tasks(source: Path, config: ShardConfig) -> list[ShardTask]:
    """Shuffle every split with the seed and cut it into shard tasks."""
    tasks = []
    for split_number, (split, files) in enumerate(list_pairs(source).items()):
        names = [path.relative_to(source).as_posix() for path in files]
        order = np.random.default_rng([config.seed, split_number]).permutation(len(names))
        shuffled = [names[i] for i in order]
        for index, start in enumerate(range(0, len(shuffled), config.shard_size)):
            tasks.append(
                ShardTask(
                    split=split,
                    index=index,
                    first_sequence=start,
                    files=shuffled[start : start + config.shard_size],
                )
            )
    return tasks


def plan_fingerprint(tasks: list[ShardTask], config: ShardConfig) -> str:
    """SHA-256 of the plan: the same files, order and output options give the same shards.

    `workers` is left out: it changes the speed, never the bytes.
    """
    options = dataclasses.asdict(config)
    options.pop("workers")
    plan = {"options": options, "tasks": [dataclasses.asdict(task) for task in tasks]}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def check_output_folder(out: Path, fingerprint: str) -> dict | None:
    """Return the manifest if `out` is already complete for this plan; refuse a foreign folder.

    None means: go on (the folder is new, empty, or a partial run of the same plan).
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise SketchcolorError(f"{out}: exists and is not a folder")
    manifest_path, plan_path = out / MANIFEST_FILE, out / PARTS / PLAN
    if manifest_path.exists():
        manifest = read_manifest(out)
        if manifest.get("plan_sha256") == fingerprint:
            return manifest
        raise SketchcolorError(
            f"{out} already holds complete shards of another source or other options; "
            "choose a new output folder or delete this one"
        )
    if plan_path.exists():
        if json.loads(plan_path.read_text()).get("plan_sha256") == fingerprint:
            return None  # resume
        raise SketchcolorError(
            f"{out} holds an unfinished run with another source or other options; "
            "re-run with the same source and options to complete it, or delete the folder"
        )
    if any(path.name != LOCK_FILE for path in out.iterdir()):
        raise SketchcolorError(
            f"{out} is not empty and holds no sketchcolor shards; choose an empty or new folder"
        )
    return None


def missing_shard_files(manifest: dict, out: Path) -> list[str]:
    """The tar and idx files that a finished manifest lists but `out` lacks."""
    names = [
        shard[kind]
        for split in manifest["splits"].values()
        for shard in split["shards"]
        for kind in ("tar", "idx")
    ]
    return [name for name in names if not (out / name).is_file()]


def reopen_for_repair(manifest: dict, tasks: list[ShardTask], out: Path) -> None:
    """Turn a finished folder with missing shard files back into a resumable run of its plan.

    Writes the `.parts` records of every intact shard (and of every shard whose pairs were all
    rejected) from the manifest, then removes the manifest: the run then redoes only the shards
    without a record, and writes the manifest again.
    """
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    _write_json_atomically(out / PARTS / PLAN, {"plan_sha256": manifest["plan_sha256"]})
    rejected = {item["file"]: item for item in manifest["rejected"]}
    shards = {
        shard["tar"]: shard for split in manifest["splits"].values() for shard in split["shards"]
    }
    for task in tasks:
        record = {
            "name": task.name,
            "split": task.split,
            "count": 0,
            "rejected": [rejected[name] for name in task.files if name in rejected],
            "seconds": {},
        }
        shard = shards.get(f"{task.name}.tar")
        if shard is not None:
            tar_path, idx_path = out / shard["tar"], out / shard["idx"]
            if not (tar_path.is_file() and idx_path.is_file()):
                continue  # no record: this shard is written again
            record |= {key: shard[key] for key in ("tar", "idx", "count", "sha256")}
            record["regions"] = shard.get("regions", 0)
            record["bytes"] = tar_path.stat().st_size
        elif len(record["rejected"]) != len(task.files):
            continue  # not in the manifest although it had good pairs: write it again
        _write_json_atomically(out / PARTS / f"{task.name}.json", record)
    (out / MANIFEST_FILE).unlink()


def _shard_done(out: Path, task: ShardTask) -> bool:
    record_path = out / PARTS / f"{task.name}.json"
    if not record_path.exists():
        return False
    record = json.loads(record_path.read_text())
    if record["count"] == 0:
        return True
    tar_path = out / record["tar"]
    return tar_path.exists() and tar_path.stat().st_size == record["bytes"]


def run_tasks(
    tasks: list[ShardTask], source: Path, out: Path, config: ShardConfig, *, progress: bool
) -> tuple[int, dict]:
    """Run the shard tasks in this process or over `config.workers` processes."""
    from tqdm import tqdm

    total = sum(len(task.files) for task in tasks)
    bar = tqdm(total=total, desc="shards", unit="pair", disable=not progress)
    records = []
    if config.workers == 1 or len(tasks) <= 1:
        _limit_threads()
        for task in tasks:
            records.append(write_shard(task, source, out, config, on_pair=bar.update))
    else:
        records = _run_in_pool(tasks, source, out, config, bar)
    bar.close()
    seconds = {}
    for record in records:
        for stage, value in record["seconds"].items():
            seconds[stage] = seconds.get(stage, 0.0) + value
    return sum(record["count"] for record in records), seconds


def _run_in_pool(tasks, source, out, config, bar) -> list[dict]:
    """One task per worker at a time: memory stays at about `workers` pairs in flight."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: forking a process that already runs OpenMP (faiss) threads can hang.
    context = multiprocessing.get_context("spawn")
    records = []
    with (
        _single_threaded_children(),
        ProcessPoolExecutor(
            max_workers=config.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        ) as pool,
    ):
        with stop_signals_blocked():  # the workers start now (one per submit, up to workers)
            futures = {pool.submit(write_shard, task, source, out, config): task for task in tasks}
        for future in as_completed(futures):
            records.append(future.result())
            bar.update(len(futures[future].files))
    return records


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_children():
    """Spawned workers inherit one thread per math library from the environment.

    The variables must be set before a worker imports numpy, faiss or torch, so the parent
    sets them while it starts the workers; with one thread each, N workers use N cores
    instead of fighting over them (measured: 2 workers ran 4x slower than 1 without this).
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _init_worker(parent_pid: int) -> None:
    """A worker dies with its parent (never writes on under a new run) and uses one thread."""
    die_with_parent(parent_pid)
    _limit_threads()


def _limit_threads() -> None:
    """One thread for faiss's OpenMP in this process (already imported numpy keeps its own)."""
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


def write_shard(
    task: ShardTask, source: Path, out: Path, config: ShardConfig, on_pair=None
) -> dict:
    """Write one tar + idx for `task` and record it in OUT/.parts; return the record."""
    seconds = {"decode": 0.0, "palette": 0.0, "encode": 0.0, "regions": 0.0, "write": 0.0}
    rejected = []
    tar_path, idx_path = out / f"{task.name}.tar", out / f"{task.name}.idx"
    partial = out / f"{task.name}.tar.partial"
    with IndexedTarWriter(partial) as writer:
        for start in range(0, len(task.files), PALETTE_CHUNK):
            chunk = task.files[start : start + PALETTE_CHUNK]
            sequences = range(task.first_sequence + start, task.first_sequence + start + len(chunk))
            pairs, chunk_rejected = _read_chunk(source, chunk, sequences, config, seconds)
            rejected.extend(chunk_rejected)
            _write_chunk(writer, pairs, task.split, config, seconds)
            if on_pair:
                on_pair(len(chunk))
    count = len(writer.index)
    record = {"name": task.name, "split": task.split, "count": count, "rejected": rejected}
    if count == 0:
        partial.unlink()  # every pair was rejected: no tar at all rather than an empty one
    else:
        started = time.perf_counter()
        idx_partial = out / f"{task.name}.idx.partial"
        write_dali_index(idx_partial, writer.index)
        os.replace(idx_partial, idx_path)
        os.replace(partial, tar_path)  # the tar appears only when whole
        # Hashed after the rename: the manifest describes the file on disk, not the partial.
        record |= {"tar": tar_path.name, "idx": idx_path.name, "sha256": file_sha256(tar_path)}
        record |= {"bytes": tar_path.stat().st_size, "regions": count}
        seconds["write"] += time.perf_counter() - started
    record["seconds"] = seconds
    _write_json_atomically(out / PARTS / f"{task.name}.json", record)
    return record


def _read_chunk(source, names, sequences, config, seconds):
    """Decode and validate a chunk: ([(sequence, name, colour, sketch)], [rejections])."""
    started = time.perf_counter()
    pairs, rejected = [], []
    for sequence, name in zip(sequences, names, strict=True):
        try:
            color, sketch = read_pair(source / name, size=config.size)
        except InvalidPair as reason:
            rejected.append({"file": name, "reason": str(reason)})
            continue
        pairs.append((sequence, name, color, sketch))
    seconds["decode"] += time.perf_counter() - started
    return pairs, rejected


def _write_chunk(writer, pairs, split, config, seconds) -> None:
    """Palettes for the chunk at once, then one sample per pair."""
    from sketchcolor.data.controls.kmeans import extract_palettes

    if not pairs:
        return
    started = time.perf_counter()
    palettes, shares = extract_palettes(
        [color for _, _, color, _ in pairs], engine=config.palette_engine, seed=config.seed
    )
    seconds["palette"] += time.perf_counter() - started
    for (sequence, name, color, sketch), palette, share in zip(
        pairs, palettes, shares, strict=True
    ):
        started = time.perf_counter()
        image = encode_pair(join_halves(color, sketch), config)
        seconds["encode"] += time.perf_counter() - started
        started = time.perf_counter()
        # Segmented from the sketch as the loaders will decode it (JPEG's loss included).
        regions = encode_region_map(pair_regions(image), name)
        seconds["regions"] += time.perf_counter() - started
        started = time.perf_counter()
        writer.add_sample(
            f"{split}_{sequence:08d}",
            {
                IMAGE_FORMATS[config.image_format]: image,
                "palette": palette.astype("<f4").tobytes(),
                "share": share.astype("<f4").tobytes(),
                REGIONS_MEMBER: regions,
                "id": Path(name).stem.encode(),
            },
        )
        seconds["write"] += time.perf_counter() - started


def encode_pair(pair: np.ndarray, config: ShardConfig) -> bytes:
    """Encode a uint8 (S, 2S, 3) pair as JPEG (4:4:4, baseline: nvJPEG decodes it) or PNG."""
    buffer = io.BytesIO()
    image = Image.fromarray(pair)
    if config.image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=config.quality, subsampling=0)
    else:
        image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def build_manifest(
    tasks: list[ShardTask], out: Path, config: ShardConfig, fingerprint: str
) -> dict:
    """Gather the shard records of every task into the manifest of docs/interfaces.md."""
    splits = {split: {"count": 0, "shards": []} for split in SPLITS}
    rejected = []
    for task in tasks:
        record = json.loads((out / PARTS / f"{task.name}.json").read_text())
        rejected.extend(record["rejected"])
        if record["count"] == 0:
            continue
        splits[task.split]["count"] += record["count"]
        splits[task.split]["shards"].append(
            {
                key: record.get(key, 0)
                for key in ("tar", "idx", "count", "sha256", "bytes", "regions")
            }
        )
    options = dataclasses.asdict(config)
    return {
        "format": MANIFEST_FORMAT,
        "image_format": config.image_format,
        "half_size": config.size,
        "splits": splits,
        "rejected": sorted(rejected, key=lambda item: item["file"]),
        "regions": region_parameters(),
        "options": options,
        "versions": library_versions(),
        "plan_sha256": fingerprint,
    }


def library_versions() -> dict:
    versions = {}
    for name in VERSIONED_LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def _write_json_atomically(path: Path, data: dict) -> None:
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
