"""Seeds mixed from several integers (base seed, epoch, step, rank, ...).

numpy's SeedSequence does the mixing, so nearby tuples give unrelated seeds; resumed runs and
every rank derive the same seed from the same numbers.

Usage: torch.manual_seed(mixed_seed(config.seed, step, rank))
"""

from __future__ import annotations

import numpy as np


def mixed_seed(*numbers: int, bits: int = 63) -> int:
    """A non-negative seed of `bits` bits: 31 for DALI (a signed 32-bit seed) or 63 for torch."""
    if bits == 31:
        return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0] >> 1)
    if bits == 63:
        state = np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0]
        return int(state >> np.uint64(1))
    raise ValueError(f"bits must be 31 or 63, got {bits}")
