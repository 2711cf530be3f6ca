"""Rollup families and the operations they share: fetch buckets, aggregate, replace buckets.

A family is a rollup table (attempts, requests, layers) described by its dimensions, summed
measures, money measures and sketches. Money is summed as whole units of 1e-8 USD (int64), so
no figure is ever rounded; sketches are merged with numpy. The rollup job owns these tables
under its advisory lock, so read-modify-write of a bucket is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import pandas as pd
from psycopg.types.json import Jsonb

from analytics.db import column_values, copy_rows, execute, frame_query
from analytics.sketch import sketch_merge
from governance.pricing import MICRO_UNITS


@dataclass(frozen=True)
class Family:
    table: str
    population: str  # the count that says whether a row holds anything
    dims: tuple[str, ...]
    counts: tuple[str, ...]  # integers, summed
    floats: tuple[str, ...]  # floats, summed
    money: tuple[str, ...]  # numeric(20, 8), summed exactly as int64 units
    sketches: tuple[str, ...]

    @property
    def measures(self) -> tuple[str, ...]:
        return self.counts + self.floats + self.money + self.sketches

    @property
    def columns(self) -> tuple[str, ...]:
        return ("bucket", *self.dims, *self.measures)


COMMON_DIMS = ("project_id", "service_id", "environment")

ATTEMPTS = Family(
    table="analytics_attemptrollup",
    population="attempts",
    dims=(*COMMON_DIMS, "model", "provider", "mode"),
    counts=(
        "attempts", "errors", "fallbacks", "nonfallback_attempts", "conforming_attempts",
        "unpriced_attempts", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens", "routing_latency_count",
    ),
    floats=("latency_sum_ms", "routing_latency_sum_ms"),
    money=("cost_usd", "baseline_cost_usd", "baseline_actual_cost_usd"),
    sketches=("latency_sketch", "routing_latency_sketch"),
)  # fmt: skip
REQUESTS = Family(
    table="analytics_requestrollup",
    population="requests",
    dims=(*COMMON_DIMS, "model", "mode"),
    counts=(
        "requests", "with_attempt", "served", "intercepted", "blocked", "modified",
        "violation_detected", "caught", "escaped", "false_positive", "with_checks",
    ),
    floats=(),
    money=(),
    sketches=("overhead_sketch",),
)  # fmt: skip
LAYERS = Family(
    table="analytics_layerrollup",
    population="checks",
    dims=(*COMMON_DIMS, "layer"),
    counts=("checks", "blocks", "modifies", "flags", "violations"),
    floats=(),
    money=(),
    sketches=("check_latency_sketch",),
)
FAMILIES = (ATTEMPTS, REQUESTS, LAYERS)


def _select_list(family: Family) -> str:
    parts = ["t.bucket", *(f"t.{name}" for name in family.dims)]
    parts += [f"t.{name}" for name in family.counts + family.floats]
    parts += [f"(t.{name} * {MICRO_UNITS})::bigint" for name in family.money]
    parts += [f"t.{name}::text" for name in family.sketches]
    return ", ".join(parts)


def _ranges(ranges: pd.DataFrame) -> list[list[Any]]:
    """Arrays for `unnest`: project ids, range starts, range ends."""
    return [
        ranges["project_id"].astype("int64").tolist(),
        [moment.to_pydatetime() for moment in ranges["lo"]],
        [moment.to_pydatetime() for moment in ranges["hi"]],
    ]


RANGE_SOURCE = "unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS w(project_id, lo, hi)"
RANGE_MATCH = "t.project_id = w.project_id AND t.bucket >= w.lo AND t.bucket < w.hi"


def buckets_fetch(family: Family, grain: str, ranges: pd.DataFrame) -> pd.DataFrame:
    """Rows of `grain` whose bucket falls in one of the (project_id, lo, hi) ranges."""
    if ranges.empty:
        return empty_frame(family)
    frame = frame_query(
        f"SELECT {_select_list(family)} FROM {family.table} t "
        f"JOIN {RANGE_SOURCE} ON {RANGE_MATCH} WHERE t.grain = %s",
        [*_ranges(ranges), grain],
        family.columns,
    )
    if frame.empty:
        return empty_frame(family)
    for name in family.sketches:
        frame[name] = [orjson.loads(value) for value in frame[name]]
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    return frame


def empty_frame(family: Family) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in family.columns})


def frame_aggregate(family: Family, frame: pd.DataFrame) -> pd.DataFrame:
    """Sum rows that share bucket and dimensions, merge their sketches, and drop rows left
    empty (a request that moved to an earlier minute leaves nothing behind)."""
    if frame.empty:
        return empty_frame(family)
    keys = ["bucket", *family.dims]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    summed = grouped[list(family.counts + family.money)].sum().astype("int64")
    parts = [summed]
    if family.floats:
        parts.append(grouped[list(family.floats)].sum())
    for name in family.sketches:
        parts.append(grouped[name].agg(lambda sketches: sketch_merge(sketches)).rename(name))
    merged = pd.concat(parts, axis=1).reset_index()
    return merged[merged[family.population] != 0].reset_index(drop=True)


def buckets_replace(family: Family, grain: str, ranges: pd.DataFrame, frame: pd.DataFrame) -> None:
    """Make the rows of `grain` in these ranges exactly `frame` (delete, then COPY)."""
    if ranges.empty:
        return
    execute(
        f"DELETE FROM {family.table} t USING {RANGE_SOURCE} WHERE {RANGE_MATCH} AND t.grain = %s",
        [*_ranges(ranges), grain],
    )
    if frame.empty:
        return
    columns: list[list[Any]] = [[grain] * len(frame), column_values(frame["bucket"])]
    columns += [frame[name].tolist() for name in family.dims + family.counts + family.floats]
    columns += [[Decimal(int(units)).scaleb(-8) for units in frame[name]] for name in family.money]
    columns += [[Jsonb(sketch) for sketch in frame[name]] for name in family.sketches]
    copy_rows(family.table, ("grain", *family.columns), zip(*columns, strict=True))


def bucket_floor(moments: pd.Series, grain: str) -> pd.Series:
    return moments.dt.floor({"m": "min", "h": "h", "d": "D"}[grain])


def ranges_of(projects: pd.Series, buckets: pd.Series, grain: str) -> pd.DataFrame:
    """Distinct (project_id, lo, hi) ranges covering the given buckets of `grain`."""
    step = {"m": pd.Timedelta(minutes=1), "h": pd.Timedelta(hours=1), "d": pd.Timedelta(days=1)}[
        grain
    ]
    ranges = pd.DataFrame(
        {
            "project_id": projects.astype("int64").to_numpy(),
            "lo": bucket_floor(buckets, grain).to_numpy(),
        }
    )
    ranges = ranges.drop_duplicates().reset_index(drop=True)
    ranges["lo"] = pd.to_datetime(ranges["lo"], utc=True)
    ranges["hi"] = ranges["lo"] + step
    return ranges


def coarser_rebuild(family: Family, minute_ranges: pd.DataFrame) -> None:
    """Recompute the hour rows covering these minutes from minute rows, then days from hours."""
    for finer, coarser in (("m", "h"), ("h", "d")):
        ranges = ranges_of(minute_ranges["project_id"], minute_ranges["lo"], coarser)
        rows = buckets_fetch(family, finer, ranges)
        if not rows.empty:
            rows["bucket"] = bucket_floor(rows["bucket"], coarser)
        buckets_replace(family, coarser, ranges, frame_aggregate(family, rows))
