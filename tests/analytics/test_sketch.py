"""Latency sketches against exact nearest-rank percentiles, and window tiling."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from analytics.metrics.window import Window
from analytics.rollups.sketch import (
    sketch_count,
    sketch_from_values,
    sketch_merge,
    sketch_pack,
    sketch_quantile,
    sketch_unpack,
    sketches_for_groups,
    sketches_merge_for_groups,
)

latencies = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=600_000, allow_nan=False)),
    min_size=1,
    max_size=400,
)


# hypothesis takes naive bounds for datetimes; the test makes them UTC.
FIRST = datetime(2026, 1, 1)  # noqa: DTZ001
LAST = datetime(2026, 12, 1)  # noqa: DTZ001


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@given(
    values=latencies,
    cuts=st.lists(st.integers(0, 400), max_size=5),
    q=st.sampled_from([0.5, 0.75, 0.9, 0.95, 0.99, 1.0]),
)
def test_merged_sketch_quantiles_are_within_one_percent(values, cuts, q):
    bounds = sorted({0, len(values), *(min(c, len(values)) for c in cuts)})
    parts = [values[a:b] for a, b in itertools.pairwise(bounds)]
    sketch = sketch_merge(sketch_from_values(part) for part in parts)
    assert sketch_count(sketch) == len(values)
    exact = nearest_rank(values, q)
    estimate = sketch_quantile(sketch, q)
    assert estimate is not None  # the sketch holds values
    if exact < 1e-9:
        assert estimate == 0.0
    else:
        assert abs(estimate - exact) / exact <= 0.01


@given(values=latencies, removed=st.integers(0, 400))
def test_subtracting_values_gives_the_sketch_without_them(values, removed):
    removed = min(removed, len(values))
    whole = sketch_from_values(values)
    gone = sketch_from_values(values[:removed], [-1] * removed)
    assert sketch_merge([whole, gone]) == sketch_from_values(values[removed:])


@given(parts=st.lists(latencies, min_size=1, max_size=5))
def test_packed_sketches_round_trip_and_concatenate_into_their_merge(parts):
    sketches = [sketch_from_values(part) for part in parts]
    assert [sketch_unpack(sketch_pack(sketch)) for sketch in sketches] == sketches
    joined = b"".join(sketch_pack(sketch) for sketch in sketches)  # what string_agg returns
    assert sketch_unpack(joined) == sketch_merge(sketches)


@given(
    values=latencies,
    groups=st.lists(st.integers(0, 3), min_size=400, max_size=400),
    weights=st.lists(st.sampled_from([1, 1, 2, -1]), min_size=400, max_size=400),
)
def test_group_sketches_are_the_sketches_of_each_groups_values(values, groups, weights):
    codes, weights = groups[: len(values)], weights[: len(values)]
    packed = sketches_for_groups(codes, values, weights, 4)
    for group in range(4):
        mine = [i for i, code in enumerate(codes) if code == group]
        expected = sketch_from_values([values[i] for i in mine], [weights[i] for i in mine])
        assert sketch_unpack(packed[group]) == expected
    # Merging by pairs of groups: a group of one passes through, a group of two adds up.
    merged = sketches_merge_for_groups([0, 0, 1, 2], packed, 3)
    assert sketch_unpack(merged[0]) == sketch_merge(
        [expected_of(packed, 0), expected_of(packed, 1)]
    )
    assert merged[1] == packed[2] and merged[2] == packed[3]


def expected_of(packed: list[bytes], group: int) -> dict:
    return sketch_unpack(packed[group])


def test_empty_sketch_has_no_quantile():
    assert sketch_quantile(sketch_from_values([]), 0.5) is None
    assert sketch_quantile(None, 0.5) is None


@given(
    start=st.datetimes(min_value=FIRST, max_value=LAST),
    minutes=st.integers(1, 60 * 24 * 40),
)
def test_window_pieces_tile_the_window_exactly(start, minutes):
    window = Window.of(
        start.replace(tzinfo=UTC), start.replace(tzinfo=UTC) + timedelta(minutes=minutes)
    )
    pieces = window.pieces()
    assert pieces[0][1] == window.start and pieces[-1][2] == window.end
    for (_, _, hi), (_, lo, _) in itertools.pairwise(pieces):
        assert hi == lo
    step = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    for grain, lo, hi in pieces:
        assert (hi - lo) % step[grain] == timedelta(0)
        assert lo == Window.of(lo, lo).start  # whole minutes
        if grain == "d":
            assert lo.hour == lo.minute == 0
        if grain == "h":
            assert lo.minute == 0
    assert len(pieces) <= 5  # minutes, hours, days, hours, minutes
