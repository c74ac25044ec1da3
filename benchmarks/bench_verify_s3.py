"""How many requests and how long does `sketchcolor verify s3://...` take for 100 tars?

verify checks the store itself (issue 36): per tar one HEAD (ETag, size) and one GET of its
small .idx, and the whole tar fetched and hashed only when the node cache holds no copy
verified from that very object. Three passes over the same 100 tars in moto's S3 server (its
own process on 127.0.0.1, every request counted from its log): a cold node cache (every tar
fetched), a warm one with the store unchanged (no tar fetched), and a warm one after one
stored tar was replaced by a copy with one byte flipped (that tar fetched, named, exit 1).

Usage: python benchmarks/bench_verify_s3.py --json benchmarks/results/bench_verify_s3-cpu.json
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import base_parser, write_result  # noqa: E402


def make_shards(root: Path, tars: int, pairs_per_tar: int, size: int) -> Path:
    """`tars` tars of `pairs_per_tar` synthetic pairs each (a fifth of them val)."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset

    synth = root / "synth"
    write_synthetic_dataset(synth, SynthConfig(count=tars * pairs_per_tar, size=size, seed=0,
                                               val_fraction=0.2), progress=False)  # fmt: skip
    shards = root / "shards"
    prepare_shards(synth, shards, ShardConfig(shard_size=pairs_per_tar, seed=0), progress=False)
    return shards


def verify_pass(store, url: str, cache: Path) -> dict:
    """One `sketchcolor verify URL` as a new process on this node would run it."""
    from sketchcolor.cli import main
    from sketchcolor.data.storage import s3 as remote

    remote._clients.clear()
    remote._staged.clear()
    before = store.requests()
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        status = main(["verify", url, "--shard-cache", str(cache)])
    seconds = time.perf_counter() - started
    time.sleep(0.5)  # the server's log line of the last request
    return {"exit_status": status, "seconds": round(seconds, 3),
            "requests": store.requests() - before,
            "last_line": output.getvalue().strip().splitlines()[-1]}  # fmt: skip


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--tars", type=int, default=100)
    parser.add_argument("--pairs-per-tar", type=int, default=4)
    parser.add_argument("--size", type=int, default=128, help="side of each half in pixels")
    args = parser.parse_args()

    from s3_store import store_process

    from sketchcolor.data.storage import s3 as remote

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        shards = make_shards(scratch, args.tars, args.pairs_per_tar, args.size)
        tar_bytes = sum(path.stat().st_size for path in shards.glob("*.tar"))
        with store_process(scratch / "store.log") as store:
            remote._clients.clear()
            client = remote.s3_client()
            client.create_bucket(Bucket="bench")
            url = "s3://bench/shards"
            remote.upload_folder(shards, url, progress=False)
            cache = scratch / "node-cache"
            passes = {"cold_cache": verify_pass(store, url, cache),
                      "warm_cache_store_unchanged": verify_pass(store, url, cache)}  # fmt: skip
            name = sorted(shards.glob("train-*.tar"))[len(list(shards.glob("train-*.tar"))) // 2]
            damaged = bytearray(name.read_bytes())
            damaged[2000] ^= 0x01
            client.put_object(Bucket="bench", Key=f"shards/{name.name}", Body=bytes(damaged))
            passes["warm_cache_one_object_flipped"] = verify_pass(store, url, cache)
    warm, cold = passes["warm_cache_store_unchanged"], passes["cold_cache"]
    result = {
        "tars": args.tars, "tar_bytes_total": tar_bytes, "passes": passes,
        "requests_per_tar_warm": round(warm["requests"] / args.tars, 2),
        "warm_over_cold_seconds": round(warm["seconds"] / cold["seconds"], 3),
        "note": "requests: GET and HEAD lines in the server's log (the manifest, every .idx, "
                "HEADs, tars); moto on the same machine, so seconds are CPU-bound, not network",
    }  # fmt: skip
    write_result("bench_verify_s3", result, args.json)


if __name__ == "__main__":
    main()
