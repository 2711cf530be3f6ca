"""A mergeable latency sketch with bounded relative error (the DDSketch idea: log buckets).

A value v > 0 falls in bucket i = ceil(log_gamma(v)) with gamma = (1 + a) / (1 - a). Answering
a quantile with its bucket's midpoint 2 * gamma**i / (gamma + 1) is within relative error `a`
of the exact nearest-rank value. Sketches merge by adding bucket counts, so minute sketches add
up to hours and days, and any window's percentiles come from rollups alone.

In memory a sketch is `{"z": zero_count, "i": [bucket, ...], "c": [count, ...]}` (buckets
ascending). Stored, it is packed: 12-byte records (bucket as a big-endian int32, count as a
big-endian int64, PostgreSQL's own send order), zeros under a reserved bucket. Records need no
parsing (numpy reads them in place), and packed sketches concatenate into their merge, so
PostgreSQL can join thousands of them into one value per group. numpy does the bucketing and
merging, tens of millions of values per second.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

RELATIVE_ACCURACY = 0.009  # under the 1% the metrics promise, with room for float rounding
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
MIN_POSITIVE = 1e-9  # smaller values (a 0 ms check) are counted as zero

Sketch = dict[str, Any]


def sketch_from_values(values: Any, weights: Any = None) -> Sketch:
    """The sketch of an array of non-negative values (NaN ignored).

    `weights` (default 1 each) may be negative: a sketch minus the same values is exactly the
    sketch without them, which is how a request that changes minute leaves its old one.
    """
    values = np.asarray(values, dtype=np.float64)
    if weights is None:
        weights = np.ones(values.size, dtype=np.int64)
    codes = np.zeros(values.size, dtype=np.int64)
    return sketch_unpack(sketches_for_groups(codes, values, weights, 1)[0])


def sketch_merge(sketches: Iterable[Mapping[str, Any] | None]) -> Sketch:
    """Add sketches together; None and empty ones are skipped."""
    return sketch_unpack(b"".join(sketch_pack(sketch) for sketch in sketches))


def sketch_count(sketch: Mapping[str, Any] | None) -> int:
    if not sketch:
        return 0
    return int(sketch.get("z", 0)) + int(sum(sketch.get("c", ())))


def sketch_quantile(sketch: Mapping[str, Any] | None, q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1), within the relative accuracy; None if empty."""
    total = sketch_count(sketch)
    if sketch is None or total == 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = int(sketch.get("z", 0))
    if rank <= seen:
        return 0.0
    cumulative = np.cumsum(np.asarray(sketch["c"], dtype=np.int64)) + seen
    position = int(np.searchsorted(cumulative, rank, side="left"))
    return 2 * GAMMA ** int(sketch["i"][position]) / (GAMMA + 1)


def sketch_counts_at_most(sketch: Mapping[str, Any] | None, bounds: Iterable[float]) -> list[int]:
    """How many values are at most each bound: cumulative counts for histogram buckets.

    A bucket counts as at most a bound when its representative value (the one quantiles
    answer) is, so a histogram built from these agrees with `sketch_quantile`.
    """
    limits = np.asarray(list(bounds), dtype=np.float64)
    zeros = int(sketch.get("z", 0)) if sketch else 0
    if not sketch or not sketch.get("i"):
        return [zeros] * limits.size
    representatives = 2 * GAMMA ** np.asarray(sketch["i"], dtype=np.float64) / (GAMMA + 1)
    cumulative = np.concatenate(([0], np.cumsum(np.asarray(sketch["c"], dtype=np.int64))))
    positions = np.searchsorted(representatives, limits, side="right")
    return (zeros + cumulative[positions]).tolist()


PERCENTILES = {"p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def sketch_summary(
    sketch: Mapping[str, Any] | None, names: Iterable[str]
) -> dict[str, float | None]:
    """The named percentiles (p50 ... p99) of a sketch, rounded to a microsecond."""
    summary = {}
    for name in names:
        value = sketch_quantile(sketch, PERCENTILES[name])
        summary[name] = None if value is None else round(value, 3)
    return summary


# --- Packed sketches (how rollups store them) ----------------------------------------------

RECORD = np.dtype([("i", ">i4"), ("c", ">i8")])
ZERO_BUCKET = np.iinfo(np.int32).min  # the record that counts zeros (sorts first)


def sketch_pack(sketch: Mapping[str, Any] | None) -> bytes:
    """A sketch as packed records."""
    if not sketch:
        return b""
    zeros = int(sketch.get("z", 0))
    indexes = ([ZERO_BUCKET] if zeros else []) + list(sketch.get("i", ()))
    counts = ([zeros] if zeros else []) + list(sketch.get("c", ()))
    records = np.empty(len(indexes), dtype=RECORD)
    records["i"], records["c"] = indexes, counts
    return records.tobytes()


def sketch_unpack(packed: bytes | memoryview | None) -> Sketch:
    """The sketch of packed records; records of one bucket add up, so a concatenation of
    packed sketches unpacks to their merge."""
    if not packed:
        return {"z": 0, "i": [], "c": []}
    records = np.frombuffer(packed, dtype=RECORD)
    indexes = records["i"].astype(np.int64)
    counts = records["c"].astype(np.int64)
    is_zero = indexes == ZERO_BUCKET
    zeros = int(counts[is_zero].sum())
    indexes, counts = indexes[~is_zero], counts[~is_zero]
    if indexes.size == 0:
        return {"z": zeros, "i": [], "c": []}
    low = int(indexes.min())
    # Counts stay far below 2**53, where float64 weights are exact.
    summed = np.rint(np.bincount(indexes - low, weights=counts)).astype(np.int64)
    present = np.flatnonzero(summed)
    return {"z": zeros, "i": (present + low).tolist(), "c": summed[present].tolist()}


def sketches_for_groups(codes: Any, values: Any, weights: Any, groups: int) -> list[bytes]:
    """One packed sketch per group code 0..groups-1 of weighted values, in one numpy pass."""
    codes = np.asarray(codes, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.int64)
    known = ~np.isnan(values)
    codes, values, weights = codes[known], values[known], weights[known]
    indexes = np.full(values.size, ZERO_BUCKET, dtype=np.int64)
    positive = values >= MIN_POSITIVE
    indexes[positive] = np.ceil(np.log(values[positive]) / LOG_GAMMA)
    return _packed_per_group(codes, indexes, weights, groups)


def sketches_merge_for_groups(codes: Any, packed: list[bytes], groups: int) -> list[bytes]:
    """Merge packed sketches that share a group code, all groups in one numpy pass.

    A group of one sketch keeps it as it is (most groups, when new buckets meet few stored
    ones): only groups of several are unpacked and merged.
    """
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(codes, minlength=groups)
    merged = [b""] * groups
    alone = sizes[codes] == 1
    for code, position in zip(codes[alone].tolist(), np.flatnonzero(alone).tolist(), strict=True):
        merged[code] = bytes(packed[position] or b"")
    shared = np.flatnonzero(~alone)
    if shared.size == 0:
        return merged
    targets, local = np.unique(codes[shared], return_inverse=True)
    parts = [bytes(packed[position] or b"") for position in shared.tolist()]
    lengths = np.fromiter((len(part) for part in parts), dtype=np.int64, count=len(parts))
    records = np.frombuffer(b"".join(parts), dtype=RECORD)
    sums = _packed_per_group(
        np.repeat(local, lengths // RECORD.itemsize),
        records["i"].astype(np.int64),
        records["c"].astype(np.int64),
        targets.size,
    )
    for code, sketch in zip(targets.tolist(), sums, strict=True):
        merged[code] = sketch
    return merged


def _packed_per_group(
    codes: np.ndarray, indexes: np.ndarray, counts: np.ndarray, groups: int
) -> list[bytes]:
    """Per group, its records summed per bucket (ascending, zero sums dropped), packed."""
    if codes.size == 0:
        return [b""] * groups
    order = np.lexsort((indexes, codes))
    codes, indexes, counts = codes[order], indexes[order], counts[order]
    boundary = np.ones(codes.size, dtype=bool)
    boundary[1:] = (codes[1:] != codes[:-1]) | (indexes[1:] != indexes[:-1])
    starts = np.flatnonzero(boundary)
    summed = np.add.reduceat(counts, starts)
    codes, indexes = codes[starts], indexes[starts]
    keep = summed != 0
    records = np.empty(int(keep.sum()), dtype=RECORD)
    records["i"], records["c"] = indexes[keep], summed[keep]
    edges = np.searchsorted(codes[keep], np.arange(groups + 1)) * RECORD.itemsize
    packed = records.tobytes()
    return [packed[a:b] for a, b in itertools.pairwise(edges.tolist())]
