"""Hint labels spread over the sketch's regions on the batch's device (HintConfig.spread
"regions"), from region maps (B, H, W) of ids: the shards' stored maps (data/shards/region_maps.py)
or, for shards without them, maps segmented on the host (`host_regions`, with a notice).

The rule is data/regions.fill_labelled_regions' (what `spread_hints` does with scipy, one
sample at a time), as whole-batch scatters and gathers over region ids, with no host copy:
each pixel of a region that holds labelled pixels, off the lines and off the labels, takes the
colour of the nearest labelled pixel when that pixel lies in its own region, else the mean of
its region's labels. A region whose labels are all one colour takes that colour (the two
cases agree there); only regions holding labels of several colours need the nearest labelled
pixel, found by an exact two-pass Euclidean feature transform (`nearest_labelled`, batched in
torch on a GPU; on a CPU, where the device is the host, scipy's per sample, which is faster
there: `nearest_labelled_on_cpu`).

rule "mean" (the cheaper rule) gives every filled pixel its region's mean label colour;
benchmarks/bench_spread.py measures both and how far apart they land.

Usage: hints = spread_over_regions(sketch, hints, batch["regions"])
"""

from __future__ import annotations

import sys

import torch

from sketchcolor.config import LINE_LEVEL

SPREAD_RULES = ("nearest", "mean")
MOST_STORED_REGIONS = 65535
FEATURE_CHUNK = 1 << 23
"""Elements of one chunk of the feature transform's second pass (bounds its memory)."""
_noticed: set[str] = set()


def spread_over_regions(
    sketch: torch.Tensor, hints, regions: torch.Tensor, *, rule: str = "nearest"
):
    """Spread `hints` (conditioning.Hints) over `regions` ((B, H, W) ids >= 1, aligned with the
    (B, 3, H, W) sketch) -> Hints."""
    batch, _, height, width = sketch.shape
    mask = hints.mask[:, 0] > 0.5  # (B, H, W)
    lines = sketch.mean(dim=1) < LINE_LEVEL
    bound = _region_bound(regions, height * width)
    key = regions.long() + torch.arange(batch, device=regions.device)[:, None, None] * bound
    key = key.view(-1)  # (B*H*W,) region of each pixel, numbered across the batch
    rgb = hints.rgb.permute(0, 2, 3, 1).reshape(-1, 3).float()  # (B*H*W, 3)
    weight = mask.view(-1).float()
    count = rgb.new_zeros(batch * bound).index_add_(0, key, weight)
    sums = rgb.new_zeros(batch * bound, 3).index_add_(0, key, rgb * weight[:, None])
    colors = (sums / count.clamp(min=1)[:, None])[key]  # (B*H*W, 3) the region's mean label
    fill = (count[key] > 0) & ~lines.view(-1) & ~mask.view(-1)
    if rule == "nearest":
        colors = _nearest_where_mixed(colors, rgb, key, mask, fill, batch * bound)
    elif rule != "mean":
        raise ValueError(f"unknown spread rule {rule!r}; choose one of {SPREAD_RULES}")
    fill = fill.view(batch, height, width)
    colors = colors.view(batch, height, width, 3).permute(0, 3, 1, 2).to(hints.rgb.dtype)
    return hints._replace(
        rgb=torch.where(fill[:, None], colors, hints.rgb),
        mask=torch.where(fill[:, None], torch.ones_like(hints.mask), hints.mask),
    )


def _region_bound(regions: torch.Tensor, pixels: int) -> int:
    """Ids per sample to make room for: the largest id on a CPU; on a GPU a bound known
    without reading the map back (stored maps hold < 65536 ids, host-segmented ones <= H*W)."""
    if regions.device.type == "cpu":
        return int(regions.max()) + 1
    return min(pixels, MOST_STORED_REGIONS) + 1


def _nearest_where_mixed(colors, rgb, key, mask, fill, slots):
    """In regions holding labels of several colours, each filled pixel takes its nearest
    labelled pixel's colour when that pixel is in its own region."""
    labelled = mask.view(-1)
    low = rgb.new_full((slots, 3), float("inf"))
    high = rgb.new_full((slots, 3), -float("inf"))
    index = key[:, None].expand(-1, 3)
    low.scatter_reduce_(0, index, rgb.masked_fill(~labelled[:, None], float("inf")), "amin")
    high.scatter_reduce_(0, index, rgb.masked_fill(~labelled[:, None], -float("inf")), "amax")
    mixed = fill & (high > low).any(dim=1)[key]  # (B*H*W,)
    if mixed.device.type == "cpu":
        if not bool(mixed.any()):
            return colors  # on a CPU the check is free; a GPU computes without asking
        nearest = nearest_labelled_on_cpu(mask, mixed.view(mask.shape).any(dim=(1, 2)))
    else:
        nearest = nearest_labelled(mask)  # (B*H*W,)
    own = key[nearest] == key
    return torch.where((mixed & own)[:, None], rgb[nearest], colors)


def nearest_labelled(mask: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, W) bool -> (B*H*W,) flat index (into the batch) of each pixel's nearest True
    pixel of its own sample, by Euclidean distance (exact; an empty sample gives its pixels
    themselves). Two passes: per column the nearest labelled row, then per row the best
    column. rows: (B, H) bool, the rows whose answer is wanted (others give themselves) -
    on a CPU only those are computed."""
    batch, height, width = mask.shape
    device = mask.device
    far = height + width  # farther than any pixel
    row = torch.arange(height, device=device)[None, :, None].expand(batch, height, width)
    above = torch.where(mask, row, -far).cummax(dim=1).values
    below = torch.where(mask, row, 2 * far).flip(1).cummin(dim=1).values.flip(1)
    up_closer = (row - above) <= (below - row)
    source_row = torch.where(up_closer, above, below)  # (B, H, W) nearest labelled row per column
    vertical = torch.minimum(row - above, below - row).float().square()  # (B, H, W)
    flat_rows = torch.arange(batch * height, device=device)
    if rows is not None and device.type == "cpu":
        flat_rows = flat_rows[rows.reshape(-1)]
    # Only columns holding a labelled pixel can be nearest: (B, C) of them per sample, padded
    # with label-free columns (never nearer than a real one); on a GPU all W, with no readback.
    holds = mask.any(dim=1)  # (B, W)
    most = int(holds.sum(dim=1).max()) if device.type == "cpu" else width
    order = torch.arange(width, device=device).expand(batch, width)
    order = torch.where(holds, order, order + width).sort(dim=1).values  # label columns first
    candidates = order[:, : max(most, 1)] % width  # (B, C) in ascending order, as ties go
    best = torch.arange(batch * height * width, device=device).view(batch * height, width)
    vertical, source_row = vertical.view(-1, width), source_row.view(-1, width)
    columns = torch.arange(width, device=device, dtype=torch.float32)
    chunk = max(1, FEATURE_CHUNK // (width * candidates.shape[1]))
    for start in range(0, len(flat_rows), chunk):
        part = flat_rows[start : start + chunk]
        sample = part // height
        ks = candidates[sample]  # (n, C)
        across = (columns[None, :, None] - ks[:, None, :].float()).square()  # (n, W, C)
        pick = (across + vertical[part].gather(1, ks)[:, None, :]).argmin(dim=2)  # (n, W)
        column = ks.gather(1, pick)  # (n, W) the nearest labelled pixel's column
        found = source_row[part].gather(1, column)
        index = (sample[:, None] * height + found) * width + column
        has_label = vertical[part].gather(1, column) < far * far
        best[part] = torch.where(has_label, index, best[part])
    return best.view(-1)


def nearest_labelled_on_cpu(mask: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """`nearest_labelled` for CPU tensors, where the device is the host: scipy's exact
    feature transform (C, linear time) per wanted sample, the rest give themselves. The
    torch version's second pass is quadratic in the width: on a GPU that is a few ms, on two
    CPU cores it cost more than the whole host spread did (benchmarks/README.md)."""
    from scipy import ndimage

    batch, height, width = mask.shape
    best = torch.arange(batch * height * width).view(batch, height, width)
    for sample in wanted.nonzero().view(-1).tolist():
        _, (rows, columns) = ndimage.distance_transform_edt(~mask[sample].numpy(),
                                                           return_indices=True)  # fmt: skip
        best[sample] = torch.from_numpy(rows * width + columns) + sample * height * width
    return best.view(-1)


def host_regions(sketch: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sketches -> (B, H, W) int32 region maps segmented on the host, one sample
    at a time (data/regions.py): for shards written before they carried maps. Says once how
    to add them (`sketchcolor shards --add-regions`)."""
    from sketchcolor.data.shards.region_maps import sketch_regions
    from sketchcolor.util.images import to_uint8

    notice_once(
        "regions",
        "note: these shards carry no region maps, so each batch's regions are segmented on the "
        "host (slow); add them in place with `sketchcolor shards --add-regions SHARDS`",
    )
    maps = [torch.from_numpy(sketch_regions(image)) for image in to_uint8(sketch)]
    return torch.stack(maps).to(sketch.device, non_blocking=True)


def notice_once(topic: str, line: str) -> None:
    if topic not in _noticed:
        _noticed.add(topic)
        print(line, file=sys.stderr, flush=True)
