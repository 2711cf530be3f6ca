"""One metric per interval (and per model, service, mode, layer or policy), oldest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from analytics.metrics.breakdowns import policy_own_rows
from analytics.metrics.query import (
    UNKNOWN_MODE,
    MetricsQuery,
    Totals,
    money,
    rate,
    rollup_totals,
    service_names,
    totals_sum,
)
from analytics.metrics.results import SeriesPoint, SeriesValue
from analytics.rollups.families import ATTEMPTS, LAYERS, REQUESTS, Family
from analytics.rollups.sketch import sketch_summary


def _percentile(name: str, sketch: str = "latency_sketch") -> Callable[[Totals], float | None]:
    return lambda row: sketch_summary(row[sketch], (name,))[name]


SERIES_METRICS: dict[str, tuple[Family, Callable[[Totals], SeriesValue]]] = {
    "attempts": (ATTEMPTS, lambda r: int(r["attempts"])),
    "fallbacks": (ATTEMPTS, lambda r: int(r["fallbacks"])),
    "error_rate": (ATTEMPTS, lambda r: rate(r["errors"], r["attempts"])),
    "cost_usd": (ATTEMPTS, lambda r: money(r["cost_usd"])),
    "latency_p50_ms": (ATTEMPTS, _percentile("p50")),
    "latency_p95_ms": (ATTEMPTS, _percentile("p95")),
    "latency_p99_ms": (ATTEMPTS, _percentile("p99")),
    "requests": (REQUESTS, lambda r: int(r["requests"])),
    # A request's attempts and checks together (the summary's end_to_end_ms).
    "end_to_end_p50_ms": (REQUESTS, _percentile("p50", "end_to_end_sketch")),
    "end_to_end_p95_ms": (REQUESTS, _percentile("p95", "end_to_end_sketch")),
    "end_to_end_p99_ms": (REQUESTS, _percentile("p99", "end_to_end_sketch")),
    "availability": (REQUESTS, lambda r: rate(r["served"], r["with_attempt"])),
    "interception_rate": (REQUESTS, lambda r: rate(r["intercepted"], r["requests"])),
    "violation_rate": (REQUESTS, lambda r: rate(r["escaped"], r["requests"])),
    "checks": (LAYERS, lambda r: int(r["checks"])),
    "layer_interception_rate": (LAYERS, lambda r: rate(r["blocks"] + r["modifies"], r["checks"])),
}
GROUPS = {
    "model": "model",
    "service": "service_id",
    "mode": "mode",
    "layer": "layer",
    "policy": "policy",
}
# The sketch a percentile metric reads (no other metric reads one).
SKETCHES = {"latency_": "latency_sketch", "end_to_end_": "end_to_end_sketch"}


def _policies_own(query: MetricsQuery, family: Family, interval: str) -> list[Totals]:
    """Per interval and policy, the totals of the policy's own checks (`policy_own_rows`), as
    the policy table counts them over the window."""
    rows = rollup_totals(family, query, ("policy", "layer"), interval=interval, sketches=())
    groups: dict[tuple[object, str], list[Totals]] = {}
    for row in policy_own_rows(rows):
        groups.setdefault((row["time"], row["policy"]), []).append(row)
    return [
        {**totals_sum(family, group), "time": time, "policy": policy}
        for (time, policy), group in groups.items()
    ]


class UnsupportedGrouping(ValueError):
    """A group_by the metric's rollups do not carry (e.g. layer for cost)."""


def metrics_timeseries(
    query: MetricsQuery, *, metric: str, interval: str, group_by: str | None
) -> list[SeriesPoint]:
    """Points of one metric per interval (and group, None when not grouped), oldest first."""
    family, value_of = SERIES_METRICS[metric]
    column = GROUPS.get(group_by) if group_by else None
    if column is not None and column not in family.dims:
        raise UnsupportedGrouping(f"{metric} cannot be grouped by {group_by}")
    sketches = tuple(sketch for prefix, sketch in SKETCHES.items() if metric.startswith(prefix))
    if column == "policy":
        rows = _policies_own(query, family, interval)
    else:
        rows = rollup_totals(
            family, query, (column,) if column else (), interval=interval, sketches=sketches
        )
    names = service_names(query) if column == "service_id" else {}
    points = []
    for row in rows:
        group = None
        if column == "service_id":
            group = names.get(row[column], str(row[column]))
        elif column == "mode":  # requests no event told the mode of, as `mode=unknown` names
            group = row[column] or UNKNOWN_MODE
        elif column:
            group = row[column]
        points.append(
            SeriesPoint(time=row["time"].astimezone(UTC), group=group, value=value_of(row))
        )
    # Grouped points sort by their group's text within an interval, as the API always has.
    return sorted(
        points, key=lambda point: (point.time, "" if column is None else str(point.group))
    )
