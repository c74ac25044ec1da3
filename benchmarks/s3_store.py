"""The pieces of `bench_loader.py --data s3`: a local S3 store in its own process, DALI's own
s3:// reader over a staged folder's manifest, and what that reader does with a flipped byte.

The store is moto's server in a separate process on 127.0.0.1: DALI's pipeline build asks the
store for every tar while holding Python's GIL, so a server thread in the loader's process
could not answer it (the build stops with curl's "Operation too slow" timeout). Its CPU
seconds are read from /proc, which is what sharing the machine with the loader costs.

Usage: with store_process() as store: ...; store.cpu_seconds()
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


class Store:
    """A running moto server process, the endpoint that reaches it and its request log."""

    def __init__(self, process: subprocess.Popen, endpoint: str, log: Path) -> None:
        self.process, self.endpoint, self.log = process, endpoint, log

    def requests(self) -> int:
        """GET and HEAD requests answered so far (one line each in werkzeug's log)."""
        with open(self.log, errors="replace") as log:  # (a line may hold colour codes)
            return sum(" /" in line and ("GET /" in line or "HEAD /" in line) for line in log)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextlib.contextmanager
def store_process(log: Path):
    """moto's S3 server on a free loopback port, in its own process, logging each request to
    `log`; AWS_* point at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file)
    endpoint = f"http://127.0.0.1:{port}"
    store = Store(process, endpoint, log)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto's server did not start")
        os.environ.update({**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
        yield store
    finally:
        store.stop()


class DirectEpochs:
    """Epochs of the DALI loader whose reader opens the tars as s3:// URLs itself (DALI's own
    S3 support), with the `.idx` files of a staged cache folder; nothing is staged or hashed."""

    def __init__(self, location: str, **loader_options) -> None:
        from sketchcolor.data.loading.dali_loader import PipelineBuilder, dali_pipeline_config
        from sketchcolor.data.loading.dali_pipeline import build_pipeline
        from sketchcolor.data.loading.loader import create_loader

        loader = create_loader(location, backend="dali", **loader_options)
        remote = loader.shards.remote

        class Builder(PipelineBuilder):
            def build(self, epoch: int):
                config = dali_pipeline_config(self.shards, self.config, epoch)
                config.paths = [remote.object_url(Path(path).name) for path in config.paths]
                pipeline = build_pipeline(config)
                pipeline.build()
                return pipeline

        self.builder = Builder(loader.shards, loader.config)
        self.length = len(loader)

    def epoch(self, number: int):
        from sketchcolor.data.loading.dali_loader import dali_epoch

        return dali_epoch(self.builder, number, 0, self.length)


def dali_reads(paths: list[str], index_paths: list[str]) -> list[bytes]:
    """Every encoded pair DALI's webdataset reader gives for `paths`, in order (CPU)."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=8, num_threads=1, device_id=None, seed=0)
    def read():
        encoded, _ = fn.readers.webdataset(paths=paths, index_paths=index_paths,
                                           ext=["jpg;png", "palette"],
                                           dtypes=[types.UINT8, types.FLOAT],
                                           pad_last_batch=True, name="Reader")  # fmt: skip
        return encoded

    pipeline = read()
    pipeline.build()
    count = pipeline.epoch_size("Reader")
    samples: list[bytes] = []
    while len(samples) < count:
        (encoded,) = pipeline.run()
        samples.extend(bytes(encoded.at(index)) for index in range(len(encoded)))
    return samples[:count]


def direct_reader_safety(client, bucket: str, prefix: str, folder: Path, tar: str) -> dict:
    """Store a copy of `tar` with one byte of its first image flipped, read it through DALI's
    s3:// reader and through the staged path (data/storage/s3.py); what each one does."""
    from sketchcolor.data.storage.s3 import RemoteShards
    from sketchcolor.errors import SketchcolorError

    index = folder / Path(tar).with_suffix(".idx").name
    first = index.read_text().splitlines()[1].split()
    damaged = bytearray((folder / tar).read_bytes())
    damaged[int(first[1]) + int(first[2]) // 2] ^= 0x01  # the middle of the first image
    key = f"{prefix}/flipped/{tar}"
    client.put_object(Bucket=bucket, Key=key, Body=bytes(damaged))
    client.upload_file(str(index), bucket, f"{prefix}/flipped/{index.name}")
    result = {"flipped_byte_at": int(first[1]) + int(first[2]) // 2}
    try:
        direct = dali_reads([f"s3://{bucket}/{key}"], [str(index)])
        intact = dali_reads([str(folder / tar)], [str(index)])
        differing = sum(mine != theirs for mine, theirs in zip(direct, intact, strict=True))
        result["dali_s3_reader"] = (
            f"no error; {differing} of {len(direct)} samples differ from the intact tar's"
        )
    except RuntimeError as error:
        result["dali_s3_reader"] = f"error: {str(error).strip().splitlines()[-1][:200]}"
    flipped = folder / "flipped"  # the cache folder of that prefix
    flipped.mkdir(exist_ok=True)
    for name in ("manifest.json", Path(tar).with_suffix(".idx").name):
        (flipped / name).write_bytes((folder / name).read_bytes())
    (flipped / "remote.json").write_text(json.dumps({"url": f"s3://{bucket}/{prefix}/flipped"}))
    remote = RemoteShards(flipped)
    try:
        remote.ensure(tar)
        result["staged_path"] = "no error"
    except SketchcolorError as error:
        result["staged_path"] = f"error: {str(error)[:200]}"
    return result


def stopped_store_error(paths: list[str], index_paths: list[str], store: Store) -> str:
    """What DALI's s3:// reader says when the store stops between two epochs."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=8, num_threads=1, device_id=None, seed=0)
    def read():
        encoded, _ = fn.readers.webdataset(paths=paths, index_paths=index_paths,
                                           ext=["jpg;png", "palette"],
                                           dtypes=[types.UINT8, types.FLOAT],
                                           name="Reader")  # fmt: skip
        return encoded

    pipeline = read()
    pipeline.build()
    pipeline.run()
    store.stop()
    started = time.perf_counter()
    try:
        for _ in range(pipeline.epoch_size("Reader") * 2):
            pipeline.run()
    except RuntimeError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "curl" in line), lines[-1])
        return (f"RuntimeError after {time.perf_counter() - started:.1f} s, "
                f"{len(lines)} lines: {reason.strip()[:200]}")  # fmt: skip
    return "no error (read from its prefetch buffers)"
