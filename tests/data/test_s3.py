"""Shards in object storage, against a real S3 server: moto's standalone server on 127.0.0.1.

Upload with `sketchcolor shards ... s3://`, train from s3:// and resume from the node's cache,
evaluate, a flipped byte named, a stopped server, rank parts fetched apart, and a 2-process
torchrun run sharing one node cache. The server listens on the loopback address only, on a
free port, and stops at the end of the module (or of the test that stops it).

Usage: python -m pytest -q tests/data/test_s3.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import free_port

pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "2",  # botocore's retries per request: keeps the failure tests short
}


def start_server():
    """A moto S3 server on 127.0.0.1 and the environment that points boto3 at it."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}


def forget_clients() -> None:
    """Clients and staged manifests are per process; a new server needs new ones."""
    from sketchcolor.data.storage import s3 as remote

    remote._clients.clear()
    remote._staged.clear()
    remote.use_shard_cache(None)


@pytest.fixture(scope="module")
def s3_server():
    server, environment = start_server()
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    forget_clients()
    yield environment
    server.stop()
    forget_clients()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def tiny_train_flags(data: str, run, num_workers: int) -> list[str]:
    """`train` flags for a Model 1 palette run at 1/16 width from `data`, a checkpoint every
    2 steps and no sample grid (add --max-steps)."""
    return ["--data", data, "--out", str(run), "--model", "1", "--color", "palette",
            "--size", "256", "--width", "0.0625", "--batch-size", "2", "--save-every", "2",
            "--sample-every", "0", "--no-feature-loss", "--loader", "torch",
            "--num-workers", str(num_workers)]  # fmt: skip


def make_bucket(name: str):
    from sketchcolor.data.storage.s3 import s3_client

    client = s3_client()
    client.create_bucket(Bucket=name)
    return client


@pytest.fixture(scope="module")
def s3_shards(s3_server, shard_dir) -> str:
    """The tests' shard folder uploaded to s3://shards/synth (read-only, like shard_dir)."""
    from sketchcolor.data.storage.s3 import upload_folder

    make_bucket("shards")
    upload_folder(shard_dir, "s3://shards/synth", progress=False)
    return "s3://shards/synth"


@pytest.fixture
def node_cache(tmp_path, monkeypatch):
    """A fresh shard cache (a new node's local disk) for this test."""
    cache = tmp_path / "node-cache"
    monkeypatch.setenv("SKETCHCOLOR_SHARD_CACHE", str(cache))
    forget_clients()
    yield cache
    forget_clients()


def downloads(cache: Path, url: str) -> list[str]:
    """The tars fetched into the cache of `url`, in order (remote.DOWNLOADS_LOG)."""
    from sketchcolor.util.locations import split_url

    bucket, prefix = split_url(url)
    log = cache / bucket / prefix / "downloads.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def test_shards_command_uploads_the_same_shards_with_the_manifest_last(
    s3_server, synth_root, shard_dir, node_cache, monkeypatch, capsys
):
    from sketchcolor.cli import main
    from sketchcolor.data.storage import s3 as remote

    client = make_bucket("written")
    url = "s3://written/run-1"
    # The first upload is cut short after three files: the prefix must not look complete.
    real_client = remote.s3_client()

    class FailingAfterThree:
        def __init__(self):
            self.puts = 0

        def upload_file(self, *args, **kwargs):
            self.puts += 1
            if self.puts > 3:
                raise OSError("connection reset by peer")
            return real_client.upload_file(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(real_client, name)

    monkeypatch.setattr(remote, "s3_client", FailingAfterThree)
    arguments = ["shards", str(synth_root), url, "--shard-size", "6", "--seed", "0"]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # below the progress bars
    assert error.startswith(
        "sketchcolor shards: error: s3://written/run-1/train-000001.idx: cannot upload"
    )
    assert "re-run" in error
    keys = {item["Key"] for item in client.list_objects_v2(Bucket="written")["Contents"]}
    assert len(keys) == 3 and "run-1/manifest.json" not in keys
    assert main(["verify", url]) == 2  # no manifest: not shards (yet)
    capsys.readouterr()

    monkeypatch.setattr(remote, "s3_client", lambda: real_client)
    assert main(arguments) == 0
    keys = {item["Key"] for item in client.list_objects_v2(Bucket="written")["Contents"]}
    local = json.loads((shard_dir / "manifest.json").read_text())
    expected = {f"run-1/{shard[kind]}" for split in local["splits"].values()
                for shard in split["shards"] for kind in ("tar", "idx")}  # fmt: skip
    assert keys == expected | {"run-1/manifest.json"}
    uploaded = json.loads(
        client.get_object(Bucket="written", Key="run-1/manifest.json")["Body"].read()
    )
    # The same source and options give the same tar bytes, wherever they are written.
    assert uploaded["splits"] == local["splits"]
    assert not (node_cache / "upload" / "written" / "run-1").exists()  # the local copy is gone
    assert main(arguments) == 0  # a complete prefix of the same plan: nothing to do
    assert "already complete" in capsys.readouterr().out
    assert main(["verify", url]) == 0
    assert "all 6 tars intact" in capsys.readouterr().out


def test_train_resume_and_evaluate_from_s3_reuse_the_node_cache(s3_shards, node_cache, tmp_path):
    from sketchcolor.evaluation.evaluate import evaluate_runs
    from sketchcolor.train import train
    from sketchcolor.training.presets import tiny_config

    run = tmp_path / "run"
    settings = {"color_control": "palette", "batch_size": 2, "save_every": 2,
                "sample_every": 0, "log_every": 1}  # fmt: skip
    train(tiny_config(s3_shards, run, max_steps=2, **settings))
    fetched = downloads(node_cache, s3_shards)
    assert len(set(fetched)) == len(fetched)  # each tar fetched once
    assert {f"train-{index:06d}.tar" for index in range(4)} <= set(fetched)

    recorded = json.loads((run / "train_config.json").read_text())
    assert recorded["data"] == s3_shards  # the URL, not the cache folder
    written = list(run.rglob("*"))
    assert written  # a loop over nothing would pass
    for path in written:  # no credential reaches the run folder
        if path.is_file() and path.suffix in (".json", ".md", ".txt", ".log", ""):
            text = path.read_text(errors="ignore")
            assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in text
            assert CREDENTIALS["AWS_ACCESS_KEY_ID"] not in text

    forget_clients()  # a new process: the manifest is fetched again, the tars are not
    train(tiny_config(s3_shards, run, max_steps=4, resume=True, **settings))
    progress = json.loads((run / "checkpoints" / "step-4" / "progress.json").read_text())
    assert progress["step"] == 4
    assert downloads(node_cache, s3_shards) == fetched

    results = evaluate_runs([run], s3_shards, "val", out_dir=tmp_path / "eval", batch_size=4,
                            backend="torch", device="cpu")  # fmt: skip
    assert results["shards"] == s3_shards
    assert results["runs"][0]["images"] == 8
    fetched = downloads(node_cache, s3_shards)
    assert len(fetched) == 6 and len(set(fetched)) == 6  # the val tars too, each once


def test_a_flipped_byte_in_a_stored_tar_is_named(s3_server, shard_dir, node_cache, capsys):
    from sketchcolor.cli import main
    from sketchcolor.data.storage.s3 import RemoteShards, local_folder, upload_folder
    from sketchcolor.errors import SketchcolorError

    client = make_bucket("flipped")
    url = "s3://flipped/shards"
    upload_folder(shard_dir, url, progress=False)
    damaged = bytearray((shard_dir / "train-000002.tar").read_bytes())
    damaged[2000] ^= 0x01
    client.put_object(Bucket="flipped", Key="shards/train-000002.tar", Body=bytes(damaged))

    assert main(["verify", url]) == 1
    out = capsys.readouterr().out
    assert f"bad shard {url}/train-000002.tar: sha256 differs" in out
    assert "1 of 6 tars damaged" in out
    folder = local_folder(url)
    assert not (folder / "train-000002.tar").exists()  # a damaged tar never takes its name
    assert (folder / "train-000001.tar").is_file()

    with pytest.raises(SketchcolorError) as caught:
        RemoteShards(folder).ensure("train-000002.tar")
    message = str(caught.value)
    assert "\n" not in message
    assert (
        message.startswith(f"{url}/train-000002.tar: sha256 differs")
        and "(tried 2 times)" in message
    )


def test_verify_checks_the_store_not_the_node_cache(s3_server, shard_dir, node_cache, capsys):
    """A byte flipped in the bucket after a run cached the tars: the cache's verified copy must
    not answer for the object (issue 36)."""
    from sketchcolor.cli import main
    from sketchcolor.data.storage.s3 import RemoteShards, local_folder, upload_folder

    client = make_bucket("rotted")
    url = "s3://rotted/shards"
    upload_folder(shard_dir, url, progress=False)
    folder = local_folder(url)
    names = [f"{split}-{index:06d}.tar" for split, count in (("train", 4), ("val", 2))
             for index in range(count)]  # fmt: skip
    RemoteShards(folder).ensure_all(names)  # what a run's loader stages: every tar, verified
    fetched = downloads(node_cache, url)
    assert sorted(fetched) == sorted(names)

    forget_clients()  # a later process on the same node
    assert main(["verify", url]) == 0
    assert "all 6 tars intact" in capsys.readouterr().out
    assert downloads(node_cache, url) == fetched  # an unchanged store: no tar fetched again

    original = (shard_dir / "train-000001.tar").read_bytes()
    damaged = bytearray(original)
    damaged[2000] ^= 0x01  # inside a sample's bytes: the tar still reads
    client.put_object(Bucket="rotted", Key="shards/train-000001.tar", Body=bytes(damaged))
    forget_clients()
    assert main(["verify", url]) == 1
    out = capsys.readouterr().out
    assert f"bad shard {url}/train-000001.tar: sha256 differs" in out
    assert "1 of 6 tars damaged" in out
    assert not (folder / "train-000001.tar").exists()  # the cache no longer vouches for it

    client.put_object(Bucket="rotted", Key="shards/train-000001.tar", Body=original)
    forget_clients()
    assert main(["verify", url]) == 0  # repaired in the store: intact again
    assert downloads(node_cache, url).count("train-000001.tar") == 2


def test_a_stopped_server_gives_a_retry_then_one_line_and_keeps_the_checkpoint(
    shard_dir, node_cache, tmp_path, monkeypatch, capsys
):
    from sketchcolor.cli import main
    from sketchcolor.data.storage.s3 import RemoteShards, local_folder, upload_folder
    from sketchcolor.errors import SketchcolorError

    server, environment = start_server()
    try:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        forget_clients()
        make_bucket("brief")
        url = "s3://brief/shards"
        upload_folder(shard_dir, url, progress=False)
        run = tmp_path / "run"
        flags = tiny_train_flags(url, run, num_workers=1)
        assert main(["train", *flags, "--max-steps", "2"]) == 0
        folder = local_folder(url)
        (folder / "val-000000.tar").unlink(missing_ok=True)
    finally:
        server.stop()

    started = time.monotonic()
    with pytest.raises(SketchcolorError) as caught:  # mid-epoch: a tar not yet staged
        RemoteShards(folder).ensure("val-000000.tar")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{url}/val-000000.tar: cannot download")
    assert "(tried 2 times)" in message
    assert time.monotonic() - started < 60

    # A node that lost its disk cannot refetch now: one line, and the checkpoint is kept.
    shutil.rmtree(node_cache)
    forget_clients()
    assert main(["train", *flags, "--max-steps", "4", "--resume"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(
        f"sketchcolor train: error: {url}/manifest.json: cannot read the manifest"
    )
    assert (run / "checkpoints" / "step-2" / "progress.json").is_file()


def test_an_unreachable_store_with_a_warm_cache_goes_on_from_it(
    shard_dir, node_cache, tmp_path, monkeypatch, capsys
):
    """Issue 36: the store is gone at start, the node cache holds the manifest and every tar
    verified: training and evaluation go on, saying so in one line; a cold cache, a tar the
    split needs missing, or a changed manifest copy fail in one line."""
    from sketchcolor.cli import main
    from sketchcolor.data.storage.s3 import local_folder, upload_folder
    from sketchcolor.evaluation.evaluate import evaluate_runs

    server, environment = start_server()
    try:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        forget_clients()
        make_bucket("away")
        url = "s3://away/shards"
        upload_folder(shard_dir, url, progress=False)
        run = tmp_path / "run"
        flags = tiny_train_flags(url, run, num_workers=1)
        assert main(["train", *flags, "--max-steps", "2"]) == 0  # the train tars
        evaluate_runs([run], url, "val", out_dir=tmp_path / "eval-1", batch_size=4,
                      backend="torch", device="cpu")  # fmt: skip  # and the val tars
        folder = local_folder(url)
    finally:
        server.stop()
    capsys.readouterr()

    def unreachable_lines() -> list[str]:
        return [line for line in capsys.readouterr().err.splitlines() if "unreachable" in line]

    forget_clients()
    started = time.monotonic()
    assert main(["train", *flags, "--max-steps", "4", "--resume"]) == 0
    (line,) = unreachable_lines()
    assert line.startswith(f"sketchcolor: {url} is unreachable (Could not connect")
    assert f"going on from the node cache {folder}" in line
    assert step_of_run(run, 4) == 4
    forget_clients()
    results = evaluate_runs([run], url, "val", out_dir=tmp_path / "eval-2", batch_size=4,
                            backend="torch", device="cpu")  # fmt: skip
    assert results["runs"][0]["images"] == 8 and results["shards"] == url
    assert len(unreachable_lines()) == 1
    assert time.monotonic() - started < 300

    # A tar the split needs is not in the cache: one line naming it, before any step.
    (folder / ".train-000001.tar.ok").unlink()
    forget_clients()
    assert main(["train", *flags, "--max-steps", "6", "--resume"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"sketchcolor train: error: {url}/train-000001.tar: the store is "
                            "unreachable (")  # fmt: skip
    assert "1 of the 4 tars needed are not verified in the node cache" in error
    # A manifest copy that differs from the one fetched is not trusted; a cold cache neither.
    for cache, damage in ((node_cache, True), (tmp_path / "cold-node", False)):
        if damage:
            with open(folder / "manifest.json", "a") as manifest:
                manifest.write(" ")
        forget_clients()
        assert main(["train", *flags, "--max-steps", "6", "--resume",
                     "--shard-cache", str(cache)]) == 2  # fmt: skip
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(
            f"sketchcolor train: error: {url}/manifest.json: cannot read the manifest"
        )
    assert not (run / "checkpoints" / "step-6").exists()


def step_of_run(run: Path, step: int) -> int:
    return json.loads((run / "checkpoints" / f"step-{step}" / "progress.json").read_text())["step"]


def test_a_store_lost_mid_run_stops_training_with_one_line_and_keeps_the_checkpoint(
    s3_shards, node_cache, tmp_path, monkeypatch, capsys
):
    from botocore.exceptions import EndpointConnectionError

    from sketchcolor.cli import main
    from sketchcolor.data.storage import s3 as remote

    run = tmp_path / "run"
    flags = tiny_train_flags(s3_shards, run, num_workers=0)
    assert main(["train", *flags, "--max-steps", "2"]) == 0
    capsys.readouterr()

    # The resumed run is on a node without the tars; the store answers the manifest, the
    # indexes and the val tars (the sample grid reads them before the loop), then goes away
    # when the training loader, mid-epoch, asks for its tars.
    tries = []
    real_download = remote.download

    def download(bucket, key, path, size=None):
        if key.endswith(".tar") and "/train-" in key:
            tries.append(key)
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return real_download(bucket, key, path, size)

    monkeypatch.setattr(remote, "download", download)
    forget_clients()
    assert main(["train", *flags, "--max-steps", "4", "--resume",
                 "--shard-cache", str(tmp_path / "fresh-node")]) == 2  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"sketchcolor train: error: {s3_shards}/train-")
    assert ".tar: cannot download (Could not connect to the endpoint URL" in error
    assert "(tried 2 times)" in error
    assert len(tries) >= 2  # fetched again before giving up
    assert (run / "checkpoints" / "step-2" / "progress.json").is_file()
    assert not (run / "checkpoints" / "step-4").exists()


# 24 train samples in 4 tars of 6. Evaluation: 2 ranks hold samples [0, 12) and [12, 24), tars
# 0-1 and 2-3; 3 ranks hold [0, 8), [8, 16), [16, 24), so rank 1 needs tars 1 and 2 and shares
# each with a neighbour (DALI then reads a trimmed index of just its samples).
@pytest.mark.parametrize(
    ("backend", "world_size", "tars"),
    [("torch", 2, [[0, 1], [2, 3]]), ("dali", 2, [[0, 1], [2, 3]]),
     ("torch", 3, [[0, 1], [1, 2], [2, 3]]), ("dali", 3, [[0, 1], [1, 2], [2, 3]])],
)  # fmt: skip
def test_each_rank_fetches_only_the_tars_of_its_part(
    s3_shards, tmp_path, backend, world_size, tars
):
    if backend == "dali":
        pytest.importorskip("nvidia.dali")
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.data.storage.s3 import use_shard_cache

    keys, fetched = [], []
    for rank in range(world_size):
        forget_clients()
        cache = tmp_path / f"node-{rank}"  # as if each rank ran on its own node
        use_shard_cache(cache)
        loader = create_loader(s3_shards, split="train", image_size=64, batch_size=4,
                               backend=backend, training=False, rank=rank,
                               world_size=world_size, num_workers=1)  # fmt: skip
        keys.append([key for batch in loader.epoch(0) for key in batch["key"]])
        fetched.append(sorted(downloads(cache, s3_shards)))
    forget_clients()
    assert fetched == [[f"train-00000{tar}.tar" for tar in rank_tars] for rank_tars in tars]
    assert [len(rank_keys) for rank_keys in keys] == [24 // world_size] * world_size
    assert len(set().union(*map(set, keys))) == 24  # disjoint, and the whole split


def test_dali_training_ranks_fetch_only_their_part_of_each_epochs_tar_order(s3_shards, tmp_path):
    """Training visits the tars in a new order each epoch; each of 2 ranks, on its own node,
    stages the 2 tars its half of that order holds (and, built ahead, epoch 1's half)."""
    pytest.importorskip("nvidia.dali")
    from sketchcolor.data.loading.dali_loader import dali_pipeline_config
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.data.storage.s3 import use_shard_cache

    fetched, keys, halves = [], [], []
    for rank in (0, 1):
        forget_clients()
        cache = tmp_path / f"node-{rank}"
        use_shard_cache(cache)
        loader = create_loader(s3_shards, split="train", image_size=64, batch_size=4,
                               backend="dali", rank=rank, world_size=2, num_workers=1,
                               seed=5)  # fmt: skip
        keys.append({key for batch in loader.epoch(0) for key in batch["key"]})
        loader._pipelines.take(1)  # waits for epoch 1's pipeline, built ahead
        halves.append([{Path(tar).name for tar in dali_pipeline_config(
            loader.shards, loader.config, epoch).paths} for epoch in (0, 1)])  # fmt: skip
        fetched.append(set(downloads(cache, s3_shards)))
    forget_clients()
    assert [len(half) for rank_halves in halves for half in rank_halves] == [2, 2, 2, 2]
    assert not halves[0][0] & halves[1][0] and not halves[0][1] & halves[1][1]
    assert fetched == [halves[0][0] | halves[0][1], halves[1][0] | halves[1][1]]
    assert len(keys[0]) == len(keys[1]) == 12 and not keys[0] & keys[1]


def test_the_dali_loader_reads_the_staged_tars_as_it_reads_a_folder(
    s3_shards, shard_dir, node_cache
):
    """DALI's reader opens every listed tar when its pipeline is built: they are staged first."""
    pytest.importorskip("nvidia.dali")
    from sketchcolor.data.loading.loader import create_loader

    def batches(location):
        loader = create_loader(location, split="val", image_size=64, batch_size=4,
                               backend="dali", training=False, num_workers=1)  # fmt: skip
        return list(loader.epoch(0))

    remote, local = batches(s3_shards), batches(shard_dir)
    assert [batch["key"] for batch in remote] == [batch["key"] for batch in local]
    for mine, theirs in zip(remote, local, strict=True):
        assert (mine["color"] == theirs["color"]).all() and (
            mine["palette"] == theirs["palette"]
        ).all()
    assert sorted(downloads(node_cache, s3_shards)) == ["val-000000.tar", "val-000001.tar"]


def cached(folder: Path) -> list[str]:
    """The verified tars of a cache folder (each has its `.TAR.ok` marker and its tar)."""
    return sorted(marker.name[1:-3] for marker in folder.glob(".*.ok")
                  if (folder / marker.name[1:-3]).is_file())  # fmt: skip


def test_a_bounded_cache_evicts_the_least_recently_used_tar_no_process_uses(
    s3_shards, shard_dir, tmp_path
):
    from sketchcolor.data.storage import cache as shard_cache
    from sketchcolor.data.storage.s3 import RemoteShards, local_folder, use_shard_cache

    sizes = {name: (shard_dir / name).stat().st_size
             for name in (f"train-{index:06d}.tar" for index in range(4))}  # fmt: skip
    # Room for all four train tars but the smallest half of one: each fetch past it evicts one.
    bound = sum(sizes.values()) - min(sizes.values()) // 2
    forget_clients()
    use_shard_cache(tmp_path / "node", max_gb=bound / shard_cache.GB)
    folder = local_folder(s3_shards)
    remote = RemoteShards(folder)
    for name in ("train-000000.tar", "train-000001.tar", "train-000002.tar", "train-000000.tar"):
        remote.ensure(name)  # train-000000 used again: last used order 1, 2, 0
        remote.release(name)

    # Another process holds the least recently used one (as a rank of the same node would).
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sketchcolor.data.storage.s3 import RemoteShards; "
         f"RemoteShards({str(folder)!r}).ensure('train-000001.tar'); print('held', flush=True); "
         "sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert shard_cache.tars_in_use(folder) == {"train-000001.tar"}
        # ... and opened it long ago (a long run): its last use is again the oldest.
        os.utime(shard_cache.marker_path(folder, "train-000001.tar"), ns=(1, 1))
        remote.ensure("train-000003.tar")  # over the bound: the oldest tar nobody uses goes
        assert cached(folder) == ["train-000000.tar", "train-000001.tar", "train-000003.tar"]
        assert (folder / "train-000002.idx").is_file()  # the loaders still list its samples
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    # The holder has ended: its lease goes with it, and train-000001 may be evicted now.
    assert shard_cache.tars_in_use(folder) == {"train-000003.tar"}
    assert len(list((folder / shard_cache.LEASE_FOLDER).iterdir())) == 1  # ours alone

    # Fetched again when needed, and checked again: the bytes are the shard's.
    remote.ensure("train-000002.tar")
    assert cached(folder) == ["train-000000.tar", "train-000002.tar", "train-000003.tar"]
    node = downloads(tmp_path / "node", s3_shards)
    assert node == ["train-000000.tar", "train-000001.tar", "train-000002.tar",
                    "train-000003.tar", "train-000002.tar"]  # fmt: skip
    fetched_again = (folder / "train-000002.tar").read_bytes()
    assert fetched_again == (shard_dir / "train-000002.tar").read_bytes()
    forget_clients()


def test_a_tar_fetched_again_after_eviction_is_verified_again(s3_server, shard_dir, tmp_path):
    from sketchcolor.data.storage.s3 import (
        RemoteShards,
        local_folder,
        upload_folder,
        use_shard_cache,
    )
    from sketchcolor.errors import SketchcolorError

    client = make_bucket("evicted")
    url = "s3://evicted/shards"
    upload_folder(shard_dir, url, progress=False)
    forget_clients()
    use_shard_cache(tmp_path / "node", max_gb=0)  # keeps only the tars in use
    remote = RemoteShards(local_folder(url))
    remote.ensure("train-000000.tar")
    remote.release("train-000000.tar")
    remote.ensure("train-000001.tar")
    assert cached(remote.folder) == ["train-000001.tar"]
    # The stored object is damaged meanwhile: the second fetch must not take its name.
    damaged = bytearray((shard_dir / "train-000000.tar").read_bytes())
    damaged[2000] ^= 0x01
    client.put_object(Bucket="evicted", Key="shards/train-000000.tar", Body=bytes(damaged))
    with pytest.raises(SketchcolorError) as caught:
        remote.ensure("train-000000.tar")
    assert str(caught.value).startswith(f"{url}/train-000000.tar: sha256 differs")
    assert cached(remote.folder) == ["train-000001.tar"]
    assert not (remote.folder / "train-000000.tar").exists()
    forget_clients()


def test_verify_and_train_keep_the_cache_under_shard_cache_max_gb(
    s3_shards, shard_dir, tmp_path, capsys, monkeypatch
):
    from sketchcolor.cli import main
    from sketchcolor.data.shards import verify
    from sketchcolor.util.locations import split_url

    # One check at a time, so "the last one checked" is one tar: with 8 at once it is
    # whichever finishes last, and which tars the cache keeps changed from run to run.
    monkeypatch.setattr(verify, "REMOTE_CHECKS", 1)

    manifest = json.loads((shard_dir / "manifest.json").read_text())
    sizes = {shard["tar"]: shard["bytes"] for split in manifest["splits"].values()
             for shard in split["shards"]}  # fmt: skip
    bound = 2 * max(sizes.values())  # two tars at most
    cache = tmp_path / "node"
    folder = cache.joinpath(*split_url(s3_shards))
    flags = ["--shard-cache", str(cache), "--shard-cache-max-gb", str(bound / 1e9)]
    assert main(["verify", s3_shards, *flags]) == 0  # each tar let go once checked
    assert "all 6 tars intact" in capsys.readouterr().out
    assert len(downloads(cache, s3_shards)) == 6
    assert sum(sizes[name] for name in cached(folder)) <= bound
    assert cached(folder)[-1:] == ["val-000001.tar"]  # the last one checked stays

    forget_clients()
    run = tmp_path / "run"
    flags = [*tiny_train_flags(s3_shards, run, num_workers=0), *flags, "--max-steps", "2"]
    assert main(["train", *flags]) == 0
    # A run whose tars alone exceed the bound keeps them (in use) and says so once.
    error = capsys.readouterr().err
    assert error.count("over its bound") == 1 and f"shard cache {cache} holds" in error
    assert {f"train-{index:06d}.tar" for index in range(4)} <= set(cached(folder))
    forget_clients()
    assert main(["verify", s3_shards, "--shard-cache-max-gb", "-1"]) == 2
    assert "--shard-cache-max-gb must be 0 or more, got -1.0" in capsys.readouterr().err


def test_serve_takes_s3_data_for_its_examples(s3_shards, node_cache, tmp_path, capsys):
    pytest.importorskip("gradio", reason="needs the ui extra")
    from sketchcolor.cli import main
    from sketchcolor.data.storage.s3 import local_folder
    from sketchcolor.serve.app import val_examples

    missing = str(tmp_path / "missing")
    assert main(["serve", missing, "--port", "1", "--data", "s3://shards/nothing"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "s3://shards/nothing/manifest.json: cannot read the manifest" in error
    # Staged before the runs are loaded: the missing run is the next thing refused.
    assert main(["serve", missing, "--port", "1", "--data", s3_shards]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert (node_cache / "shards" / "synth" / "manifest.json").is_file()
    examples = val_examples(local_folder(s3_shards), 64, 2)
    assert len(examples) == 2 and all(Path(path).is_file() for path in examples)


@pytest.mark.slow
def test_torchrun_ranks_share_one_node_cache_and_read_disjoint_samples(s3_shards, tmp_path):
    from tests.support.processes import ENVIRONMENT, TORCHRUN, tiny_run_flags

    run, cache = tmp_path / "run", tmp_path / "node-cache"
    flags = tiny_run_flags(s3_shards, run, steps=2, batch_size=2)
    command = [*TORCHRUN, "-m", "sketchcolor.train", *flags, "--audit-ranks",
               "--shard-cache", str(cache)]  # fmt: skip
    environment = {**ENVIRONMENT, **{name: os.environ[name] for name in CREDENTIALS},
                   "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
                   "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    audits = [json.loads((run / "audit" / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    keys = [set(audit["keys"]) for audit in audits]
    assert all(len(rank_keys) == 4 for rank_keys in keys) and not keys[0] & keys[1]
    # Both ranks staged into one cache: every tar they read was fetched once, not twice.
    fetched = downloads(cache, s3_shards)
    assert len(set(fetched)) == len(fetched)
    assert {f"train-{index:06d}.tar" for index in range(4)} <= set(fetched)
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr


def test_a_foreign_manifest_at_a_prefix_is_refused_by_the_manifest_reader(
    s3_server, node_cache, tmp_path
):
    """What s3.py fetches, stages and uploads goes through data/shards/manifest_format.py's
    checks, as a local folder's manifest does."""
    from sketchcolor.data.storage.s3 import local_folder, remote_manifest, upload_folder
    from sketchcolor.errors import SketchcolorError

    client = make_bucket("foreign")
    client.put_object(Bucket="foreign", Key="run/manifest.json",
                      Body=b'{"format": "other/1", "splits": {}}')  # fmt: skip
    with pytest.raises(SketchcolorError, match="^s3://foreign/run/manifest.json: format is not "
                                               "'sketchcolor-shards/1'$"):  # fmt: skip
        remote_manifest("s3://foreign/run")
    with pytest.raises(SketchcolorError, match="run/manifest.json: format is not"):
        local_folder("s3://foreign/run")  # staged, then read for its .idx entries
    assert remote_manifest("s3://foreign/nothing") is None  # an unfinished or new prefix
    with pytest.raises(SketchcolorError, match="no manifest; is .* a shard folder"):
        upload_folder(tmp_path, "s3://foreign/upload", progress=False)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
