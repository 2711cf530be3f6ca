"""Rollup families and the operations they share: fetch buckets, aggregate, replace buckets.

A family is a rollup table (attempts, requests, layers and policies) described by its dimensions, summed
measures, money measures and sketches. Money is summed as whole units of 1e-8 USD (int64), so
no figure is ever rounded; sketches are merged with numpy. The rollup job owns these tables
under its advisory lock, so read-modify-write of a bucket is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.rollups.sketch import sketches_for_groups, sketches_merge_for_groups
from governance.pricing import MICRO_UNITS, usd_of
from tollgate.db.sql import column_values, copy_rows, execute, frame_query


@dataclass(frozen=True)
class Family:
    table: str
    population: str  # the count that says whether a row holds anything
    dims: tuple[str, ...]
    counts: tuple[str, ...]  # integers, summed
    floats: tuple[str, ...]  # floats, summed
    money: tuple[str, ...]  # numeric(20, 8), summed exactly as int64 units
    sketches: tuple[str, ...]
    sketched: tuple[str, ...]  # the per-event value each sketch holds, in the same order

    @property
    def summed(self) -> tuple[str, ...]:
        return self.counts + self.floats + self.money

    @property
    def measures(self) -> tuple[str, ...]:
        return self.counts + self.floats + self.money + self.sketches

    @property
    def columns(self) -> tuple[str, ...]:
        return ("bucket", *self.dims, *self.measures)


COMMON_DIMS = ("project_id", "service_id", "environment")
INTEGER_DIMS = frozenset({"project_id", "service_id"})  # every other dimension is text

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
    sketched=("latency_ms", "routing_latency_ms"),
)  # fmt: skip
REQUESTS = Family(
    table="analytics_requestrollup",
    population="requests",
    dims=(*COMMON_DIMS, "model", "mode"),
    counts=(
        "requests", "with_attempt", "served", "intercepted", "blocked", "modified",
        "violation_detected", "caught", "escaped", "false_positive", "with_checks",
        # The requests' checks, distinct layers checked, and checks that reported no cost of
        # their own: per mode, which the layer rollups (no mode) cannot tell.
        "checks", "layers_seen", "unreported_checks",
    ),
    floats=(),
    money=("reported_check_cost_usd",),
    sketches=("overhead_sketch", "end_to_end_sketch"),
    sketched=("overhead_ms", "end_to_end_ms"),
)  # fmt: skip
LAYERS = Family(
    table="analytics_layerrollup",
    population="checks",
    dims=(*COMMON_DIMS, "layer", "policy"),
    counts=(
        "checks",
        "blocks",
        "modifies",
        "flags",
        "violations",
        "false_positives",
        "unreported_checks",
    ),
    floats=(),
    # The checks' own reported cost; the others (`unreported_checks`) are priced at read time
    # with the project's check cost, so a change of that setting applies at once.
    money=("reported_check_cost_usd",),
    sketches=("check_latency_sketch",),
    sketched=("check_latency_ms",),
)
FAMILIES = (ATTEMPTS, REQUESTS, LAYERS)


def _select_list(family: Family) -> str:
    parts = ["t.bucket", *(f"t.{name}" for name in family.dims)]
    parts += [f"t.{name}" for name in family.counts + family.floats]
    parts += [f"(t.{name} * {MICRO_UNITS})::bigint" for name in family.money]
    parts += [f"t.{name}" for name in family.sketches]
    return ", ".join(parts)


Span = tuple[int, pd.Timestamp, pd.Timestamp]  # project_id, start, end (exclusive)
SPAN_GAP = pd.Timedelta(hours=1)  # buckets closer than this share a span


def spans_of(projects: pd.Series, buckets: pd.Series, grain: str) -> list[Span]:
    """Few (project, start, end) spans covering the given buckets of `grain`.

    Nearby buckets share a span, so reading and rewriting them takes one index range scan; a
    span may also hold untouched buckets, which are read and written back unchanged.
    """
    if projects.empty:
        return []
    starts = (
        pd.DataFrame(
            {
                "project_id": projects.astype("int64").to_numpy(),
                "lo": bucket_floor(buckets, grain).dt.tz_convert(None).to_numpy(),
            }
        )
        .drop_duplicates()
        .sort_values(["project_id", "lo"])
    )
    project_ids = starts["project_id"].to_numpy()
    los = starts["lo"].to_numpy()
    opens = np.ones(len(starts), dtype=bool)
    opens[1:] = (project_ids[1:] != project_ids[:-1]) | (
        los[1:] > los[:-1] + SPAN_GAP.to_timedelta64()
    )
    firsts = np.flatnonzero(opens)
    lasts = np.append(firsts[1:], len(starts)) - 1
    step = GRAIN_STEP[grain]
    return [
        (int(project_ids[first]), _utc(los[first]), _utc(los[last]) + step)
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True)
    ]


def _utc(moment: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(moment).tz_localize("UTC")


def _span_filter(spans: list[Span]) -> tuple[str, list[Any]]:
    condition = " OR ".join(
        "(t.project_id = %s AND t.bucket >= %s AND t.bucket < %s)" for _ in spans
    )
    params = [
        value
        for project_id, lo, hi in spans
        for value in (project_id, lo.to_pydatetime(), hi.to_pydatetime())
    ]
    return f"({condition})", params


def buckets_fetch(family: Family, grain: str, spans: list[Span]) -> pd.DataFrame:
    """Every row of `grain` inside the spans."""
    if not spans:
        return empty_frame(family)
    condition, params = _span_filter(spans)
    frame = frame_query(
        f"SELECT {_select_list(family)} FROM {family.table} t WHERE t.grain = %s AND {condition}",
        [grain, *params],
        family.columns,
    )
    if frame.empty:
        return empty_frame(family)
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
    merged = grouped[list(family.counts + family.money)].sum().astype("int64")
    if family.floats:
        merged = merged.join(grouped[list(family.floats)].sum())
    codes = grouped.ngroup().to_numpy()
    for name in family.sketches:
        merged[name] = sketches_merge_for_groups(codes, frame[name].tolist(), len(merged))
    merged = merged.reset_index()
    return merged[merged[family.population] != 0].reset_index(drop=True)


def buckets_replace(family: Family, grain: str, spans: list[Span], frame: pd.DataFrame) -> None:
    """Make the rows of `grain` inside the spans exactly `frame` (delete, then COPY)."""
    if not spans:
        return
    condition, params = _span_filter(spans)
    execute(f"DELETE FROM {family.table} t WHERE t.grain = %s AND {condition}", [grain, *params])
    if frame.empty:
        return
    columns: list[list[Any]] = [[grain] * len(frame), column_values(frame["bucket"])]
    columns += [frame[name].tolist() for name in family.dims + family.counts + family.floats]
    columns += [[usd_of(units) for units in frame[name]] for name in family.money]
    columns += [frame[name].tolist() for name in family.sketches]  # packed already
    copy_rows(
        family.table,
        ("grain", *family.columns),
        zip(*columns, strict=True),
        binary_types=_copy_types(family),
    )


def _copy_types(family: Family) -> tuple[str, ...]:
    """The PostgreSQL types of ("grain", *family.columns), for a binary COPY."""
    dims = ("int8" if name in INTEGER_DIMS else "text" for name in family.dims)
    return (
        "text",
        "timestamptz",
        *dims,
        *("int8",) * len(family.counts),
        *("float8",) * len(family.floats),
        *("numeric",) * len(family.money),
        *("bytea",) * len(family.sketches),
    )


GRAIN_STEP = {"m": pd.Timedelta(minutes=1), "h": pd.Timedelta(hours=1), "d": pd.Timedelta(days=1)}
GRAIN_FLOOR = {"m": "min", "h": "h", "d": "D"}


def bucket_floor(moments: pd.Series, grain: str) -> pd.Series:
    return moments.dt.floor(GRAIN_FLOOR[grain])


GRAINS = ("m", "h", "d")


def grain_deltas(
    family: Family,
    events: pd.DataFrame,
    grain: str,
    *,
    weights: pd.Series | None = None,
    dim_codes: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rows of `grain` that per-event rows add up to: one per bucket and dimensions.

    `events` holds, per event, its moment as `bucket`, the family's dimensions, its summed
    measures, and the values its sketches hold (`family.sketched`), counted `weights` times
    each (default once; -1 takes an event away). Every grain is built from the events
    themselves, so a day's sketch is one numpy pass, not a merge of its minutes.
    `dim_codes` (from `dims_codes`) saves grouping the text dimensions again for each grain.
    """
    buckets = bucket_floor(events["bucket"], grain)
    if dim_codes is None:
        dim_codes = dims_codes(family, events)
    bucket_codes = pd.factorize(buckets)[0].astype(np.int64)
    codes = pd.factorize(bucket_codes * (int(dim_codes.max()) + 1) + dim_codes)[0]
    firsts = np.unique(codes, return_index=True)[1]  # each group's first event
    deltas = pd.concat(
        [
            buckets.iloc[firsts].reset_index(drop=True).rename("bucket"),
            events[list(family.dims)].iloc[firsts].reset_index(drop=True),
            events[list(family.summed)].groupby(codes).sum().reset_index(drop=True),
        ],
        axis=1,
    )
    counted = np.ones(len(events), dtype=np.int64) if weights is None else weights
    for sketch, values in zip(family.sketches, family.sketched, strict=True):
        deltas[sketch] = sketches_for_groups(codes, events[values], counted, len(deltas))
    return deltas


def dims_codes(family: Family, events: pd.DataFrame) -> np.ndarray:
    """A code per event for its combination of the family's dimensions."""
    return events.groupby(list(family.dims), sort=False, dropna=False).ngroup().to_numpy()


def grains_deltas(
    family: Family, events: pd.DataFrame, *, weights: pd.Series | None = None
) -> dict[str, pd.DataFrame]:
    """The minute, hour and day rows per-event rows add up to (see `grain_deltas`)."""
    dim_codes = dims_codes(family, events)
    return {
        grain: grain_deltas(family, events, grain, weights=weights, dim_codes=dim_codes)
        for grain in GRAINS
    }


def grains_merge(family: Family, deltas: dict[str, pd.DataFrame]) -> None:
    """Add each grain's deltas (rows of that grain, one per bucket and dimensions, possibly
    negative) to its stored rows."""
    spans = {
        grain: spans_of(rows["project_id"], rows["bucket"], grain) for grain, rows in deltas.items()
    }
    grains_replace(family, spans, grains_merged(family, deltas, grains_fetch(family, spans)))


# The steps of `grains_merge`, for a caller that does other work between them.


def grains_spans(projects: pd.Series, moments: pd.Series) -> dict[str, list[Span]]:
    """The spans of each grain that hold these moments."""
    return {grain: spans_of(projects, moments, grain) for grain in GRAINS}


def grains_fetch(family: Family, spans: dict[str, list[Span]]) -> dict[str, pd.DataFrame]:
    return {grain: buckets_fetch(family, grain, by_grain) for grain, by_grain in spans.items()}


def grains_merged(
    family: Family, deltas: dict[str, pd.DataFrame], stored: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    return {grain: buckets_merged(family, rows, stored[grain]) for grain, rows in deltas.items()}


def grains_replace(
    family: Family, spans: dict[str, list[Span]], rows: dict[str, pd.DataFrame]
) -> None:
    for grain, by_grain in rows.items():
        buckets_replace(family, grain, spans[grain], by_grain)


def buckets_merged(family: Family, deltas: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The rows the spans hold once the deltas are added to their `stored` rows (every row of
    the spans: all are deleted and written back).

    Deltas of buckets that hold no stored row go in as they are; only the others are summed
    with the stored rows (when events come in time order, only the chunk's first minute,
    hour and day have any).
    """
    deltas = deltas[list(family.columns)]
    if stored.empty:
        rows = deltas[deltas[family.population] != 0]
    else:
        shared = deltas["bucket"].isin(stored["bucket"])
        merged = frame_aggregate(family, pd.concat([stored, deltas[shared]], ignore_index=True))
        fresh = deltas[~shared]
        rows = pd.concat([merged, fresh[fresh[family.population] != 0]], ignore_index=True)
    return rows.reset_index(drop=True)


def spans_widen(spans: list[Span], grain: str) -> list[Span]:
    """The spans of `grain` buckets that hold these (finer) spans, nearby ones merged."""
    widened: list[Span] = []
    for project_id, lo, hi in sorted(
        (p, lo.floor(GRAIN_FLOOR[grain]), hi.ceil(GRAIN_FLOOR[grain])) for p, lo, hi in spans
    ):
        if widened and widened[-1][0] == project_id and lo <= widened[-1][2] + SPAN_GAP:
            widened[-1] = (project_id, widened[-1][1], max(hi, widened[-1][2]))
        else:
            widened.append((project_id, lo, hi))
    return widened


def hour_rows_replace(
    family: Family, span: Span, events: pd.DataFrame, *, weights: pd.Series | None = None
) -> None:
    """Make the minute and hour rows of a one-hour `span` what these per-event rows (as for
    `grain_deltas`) add up to, each grain built from the events as the rollup job builds it,
    then the day that holds the hour from its hours."""
    _, start, end = span
    if start != start.floor("h") or end != start + GRAIN_STEP["h"]:
        raise ValueError(f"not one whole hour: {start} to {end}")
    spans = [span]
    for grain in ("m", "h"):
        rows = empty_frame(family)
        if not events.empty:
            rows = frame_aggregate(family, grain_deltas(family, events, grain, weights=weights))
        buckets_replace(family, grain, spans, rows)
    days = spans_widen(spans, "d")
    hours = buckets_fetch(family, "h", days)
    if not hours.empty:
        hours["bucket"] = bucket_floor(hours["bucket"], "d")
    buckets_replace(family, "d", days, frame_aggregate(family, hours))
