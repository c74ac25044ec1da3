"""Shared fixtures: a small synthetic pair folder and the shards prepared from it.

Both are session-scoped (made once per test run) and must be treated as read-only; copy them
(`shutil.copytree`) before changing anything.

Usage: def test_x(shard_dir): manifest = json.loads((shard_dir / "manifest.json").read_text())
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def verified_cache_in_tmp(tmp_path_factory):
    """Shard verification remembers tars in a per-test-run cache, never in the user's home."""
    os.environ["SKETCHCOLOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


SYNTH_COUNT = 32
SYNTH_SIZE = 64
SYNTH_VAL_FRACTION = 0.25  # 24 train + 8 val pairs
SHARD_SIZE = 6  # train: 4 tars of 6; val: 2 tars (6 + 2), so uneven shards get exercised


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A synthetic pair folder in the Kaggle layout: data/train (24) and data/val (8), 64x64 halves."""
    from sketchcolor.data.synth import SynthConfig, write_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(
        count=SYNTH_COUNT, size=SYNTH_SIZE, seed=0, val_fraction=SYNTH_VAL_FRACTION
    )
    write_synthetic_dataset(root, config, progress=False)
    return root


@pytest.fixture(scope="session")
def shard_dir(synth_root, tmp_path_factory) -> Path:
    """JPEG shards of `synth_root`: 4 train tars + 2 val tars, .idx files, manifest.json."""
    from sketchcolor.data.shards import ShardConfig, prepare_shards

    out = tmp_path_factory.mktemp("shards") / "shards"
    prepare_shards(synth_root, out, ShardConfig(shard_size=SHARD_SIZE, seed=0), progress=False)
    return out
