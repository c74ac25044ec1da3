"""Sizes the shared fixtures (tests/conftest.py) are built with, for tests that check counts.

Usage: from tests.support.sizes import SHARD_SIZE
"""

SHARD_SIZE = 6  # train: 4 tars of 6; val: 2 tars (6 + 2), so uneven shards get exercised
SERVED_MAX_PIXELS = 600 * 600
