"""Expected DDP efficiency of one training step on 8 GPUs and on 2-16 nodes: a model, not a run.

Per step each GPU computes its batch, then DDP all-reduces the gradients: G's during G's
backward, D's during D's backward (D is frozen in the G step, so its gradients are reduced once).
NCCL's hierarchical all-reduce of B bytes over N = 8 M GPUs takes about

    t = 2 (8-1)/8 B / bw_nvlink  +  2 (M-1)/M B / bw_node  +  2 (N-1) latency

(reduce-scatter and all-gather inside the node, the cross-node part carries B/8 per GPU over
its share of the node's NICs). DDP overlaps the reduction with the backward that produces it,
except what sticks out: exposed = max(0, t - overlap * backward). Efficiency = compute /
(compute + exposed G + exposed D). Gradient accumulation over k micro-batches (or a k-times
larger batch) reduces once per k, which is what restores efficiency on slow links.

Compute per step comes from a measured step time (`--step-seconds`, or bench_train's GPU JSON
via `--bench-json`) or, without one, from FLOPs / (peak x assumed MFU), said in the output.

Usage: python benchmarks/scaling.py --model 2.1 --batch-size 16 [--bench-json results/bench_train-gpu.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

# Generator and discriminator at 512x512 (`sketchcolor models`): parameters and forward GFLOPs.
MODELS = {
    "1": (30.61e6, 27.2),
    "2.1": (69.84e6, 109.8),
    "2.2": (85.06e6, 109.9),
    "3": (86.72e6, 112.2),
}
DISCRIMINATOR = (10.47e6, 36.9)
GRADIENT_BYTES = 4  # fp32 gradients: autocast keeps parameters (and so gradients) in fp32

# Achieved all-reduce bus bandwidths in GB/s (about 80% of line rate), and link latencies.
NVLINK_GBPS = 360.0  # H100 SXM NVLink 4 (NCCL all-reduce busbw on a DGX/HGX node)
PCIE_GBPS = 20.0  # 8 PCIe GPUs without NVLink (through the host)
NODE_LINKS_GBPS = {  # per node, all NICs together
    "100 Gb/s Ethernet": 10.0,
    "200 Gb/s": 20.0,
    "400 Gb/s": 40.0,
    "8 x 400 Gb/s InfiniBand": 320.0,
}
LATENCY_SECONDS = {"intra": 5e-6, "inter": 15e-6}


@dataclass(kw_only=True)
class StepCost:
    """One GPU's step: compute seconds and the backward windows the reductions hide in."""

    compute_seconds: float
    generator_backward_seconds: float
    discriminator_backward_seconds: float
    source: str


def step_cost(model: str, batch: int, *, step_seconds: float | None, peak_tflops: float,
              mfu: float) -> StepCost:  # fmt: skip
    """Split a step's time into the G and D backward windows by their FLOP shares.

    FLOPs per image (forward = 1, backward = 2 units): D step = D on real and fake, forward
    and backward (6 D units); G step = G forward + backward (3 G) and D forward + backward for
    the adversarial term (3 D units); the VGG feature loss is left out.
    """
    _, g_forward = MODELS[model]
    _, d_forward = DISCRIMINATOR
    total = 3 * g_forward + 9 * d_forward  # GFLOPs per image
    source = "measured step time"
    if step_seconds is None:
        step_seconds = batch * total * 1e9 / (peak_tflops * 1e12 * mfu)
        source = f"FLOPs / ({peak_tflops:.0f} TFLOP/s x {mfu:.0%} MFU), assumed"
    return StepCost(
        compute_seconds=step_seconds,
        # G's gradients come out of G's own backward (2 G units); D's out of the D step's two
        # backwards (4 D units).
        generator_backward_seconds=step_seconds * 2 * g_forward / total,
        discriminator_backward_seconds=step_seconds * 4 * d_forward / total,
        source=source,
    )


def allreduce_seconds(nbytes: float, nodes: int, node_gbps: float, intra_gbps: float) -> float:
    """Hierarchical ring all-reduce of `nbytes` over `nodes` x 8 GPUs."""
    gpus = 8 * nodes
    inside = 2 * 7 / 8 * nbytes / (intra_gbps * 1e9)
    across = 2 * (nodes - 1) / nodes * nbytes / (node_gbps * 1e9) if nodes > 1 else 0.0
    latency = 2 * 7 * LATENCY_SECONDS["intra"] + 2 * (nodes - 1) * LATENCY_SECONDS["inter"]
    return inside + across + latency * (gpus > 1)


def efficiency(cost: StepCost, model: str, nodes: int, node_gbps: float, intra_gbps: float,
               overlap: float, accumulation: int = 1) -> float:  # fmt: skip
    """Compute / (compute + exposed communication) for one optimizer step of k micro-batches."""
    exposed = 0.0
    for parameters, window in (
        (MODELS[model][0], cost.generator_backward_seconds),
        (DISCRIMINATOR[0], cost.discriminator_backward_seconds),
    ):
        reduce = allreduce_seconds(parameters * GRADIENT_BYTES, nodes, node_gbps, intra_gbps)
        exposed += max(0.0, reduce - overlap * window)
    compute = accumulation * cost.compute_seconds
    return compute / (compute + exposed)


def accumulation_needed(cost: StepCost, model: str, nodes: int, node_gbps: float,
                        intra_gbps: float, overlap: float, target: float) -> int | None:  # fmt: skip
    """The smallest k (micro-batches per reduction) reaching `target` efficiency, up to 64."""
    for k in range(1, 65):
        if efficiency(cost, model, nodes, node_gbps, intra_gbps, overlap, k) >= target:
            return k
    return None


def measured_step_seconds(path: Path, model: str, size: int = 512) -> float | None:
    """seconds_per_step of a bf16 row of bench_train's JSON for this model and size."""
    rows = json.loads(path.read_text())["rows"]
    for row in rows:
        wanted = (model, size, "bf16")
        if (row.get("model"), row.get("size"), row.get("precision")) == wanted and (
            "seconds_per_step" in row
        ):
            return float(row["seconds_per_step"])
    return None


def report(args) -> str:
    step_seconds = args.step_seconds
    if step_seconds is None and args.bench_json:
        step_seconds = measured_step_seconds(args.bench_json, args.model)
    cost = step_cost(args.model, args.batch_size, step_seconds=step_seconds,
                     peak_tflops=args.peak_tflops, mfu=args.mfu)  # fmt: skip
    g_mb = MODELS[args.model][0] * GRADIENT_BYTES / 1e6
    d_mb = DISCRIMINATOR[0] * GRADIENT_BYTES / 1e6
    lines = [
        f"Model {args.model}, 512x512, batch {args.batch_size} per GPU: step "
        f"{cost.compute_seconds * 1000:.0f} ms ({cost.source}); gradients G {g_mb:.0f} MB + "
        f"D {d_mb:.0f} MB per step; overlap {args.overlap:.0%} of each backward.",
        "",
        f"| GPUs | links | efficiency | k for {args.target:.0%} |",
        "|---|---|---:|---:|",
    ]
    for name, intra in (("NVLink", NVLINK_GBPS), ("PCIe only", PCIE_GBPS)):
        value = efficiency(cost, args.model, 1, 1.0, intra, args.overlap)
        k = accumulation_needed(cost, args.model, 1, 1.0, intra, args.overlap, args.target)
        lines.append(f"| 8 (1 node) | {name} | {value:.1%} | {k or '> 64'} |")
    for nodes in (2, 4, 8, 16):
        for name, node_gbps in NODE_LINKS_GBPS.items():
            value = efficiency(cost, args.model, nodes, node_gbps, NVLINK_GBPS, args.overlap)
            k = accumulation_needed(cost, args.model, nodes, node_gbps, NVLINK_GBPS,
                                    args.overlap, args.target)  # fmt: skip
            lines.append(f"| {8 * nodes} ({nodes} nodes) | NVLink + {name} | {value:.1%} | "
                         f"{k or '> 64'} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="2.1")
    parser.add_argument("--batch-size", type=int, default=16, help="per GPU")
    parser.add_argument("--step-seconds", type=float, help="measured step time on one GPU")
    parser.add_argument("--bench-json", type=Path, help="bench_train GPU JSON to read it from")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    parser.add_argument("--mfu", type=float, default=0.3, help="assumed without a measurement")
    parser.add_argument("--overlap", type=float, default=0.8,
                        help="share of each backward the reduction can hide in (DDP buckets; "
                        "the last bucket cannot overlap)")  # fmt: skip
    parser.add_argument("--target", type=float, default=0.9, help="efficiency wanted")
    print(report(parser.parse_args()))


if __name__ == "__main__":
    main()
