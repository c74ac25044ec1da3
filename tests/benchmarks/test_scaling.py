"""benchmarks/scaling.py: the all-reduce model's arithmetic and the accumulation it asks for."""

from __future__ import annotations

import pytest

from benchmarks import scaling


def test_allreduce_inside_one_node_is_the_ring_formula():
    seconds = scaling.allreduce_seconds(8e9, nodes=1, node_gbps=1.0, intra_gbps=100.0)
    assert seconds == pytest.approx(2 * 7 / 8 * 8e9 / 100e9 + 14 * 5e-6)


def test_cross_node_term_carries_the_node_links():
    one = scaling.allreduce_seconds(1e9, nodes=1, node_gbps=10.0, intra_gbps=1e6)
    two = scaling.allreduce_seconds(1e9, nodes=2, node_gbps=10.0, intra_gbps=1e6)
    assert two - one == pytest.approx(2 * 1 / 2 * 1e9 / 10e9 + 2 * 15e-6, rel=1e-6)


def test_slow_links_need_accumulation_and_it_restores_efficiency():
    cost = scaling.step_cost("2.1", 16, step_seconds=0.05, peak_tflops=989, mfu=0.3)
    assert cost.source == "measured step time"
    slow = scaling.efficiency(cost, "2.1", 4, 10.0, scaling.NVLINK_GBPS, 0.8)
    k = scaling.accumulation_needed(cost, "2.1", 4, 10.0, scaling.NVLINK_GBPS, 0.8, 0.9)
    assert slow < 0.9 and k > 1
    assert scaling.efficiency(cost, "2.1", 4, 10.0, scaling.NVLINK_GBPS, 0.8, k) >= 0.9
    assert scaling.efficiency(cost, "2.1", 4, 10.0, scaling.NVLINK_GBPS, 0.8, k - 1) < 0.9
    assert scaling.efficiency(cost, "2.1", 1, 1.0, 1e9, 0.8) == pytest.approx(1.0)
