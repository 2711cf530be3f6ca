"""Chart series from the metrics API's time series selector, one per group, over every
interval of the window (counts are zero where nothing happened; rates leave a gap)."""

from __future__ import annotations

from datetime import datetime

from analytics.dashboard.charts import Bars, Series
from analytics.dashboard.filters import Selection
from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import SeriesValue
from analytics.metrics.timeseries import metrics_timeseries


def chart_number(value: SeriesValue) -> float | None:
    """A series value as a chart draws it (money too, as a float)."""
    return None if value is None else float(value)


def partial_buckets(selection: Selection) -> frozenset[datetime]:
    """The interval starts whose interval the window cuts: the first when the window starts
    after it, the last when the window ends before it does (e.g. at "now"). Their counts are
    a part of an interval's, so charts mark them rather than show a dip."""
    buckets = selection.buckets()
    if not buckets:
        return frozenset()
    window = selection.window
    cut = set()
    if buckets[0] < window.start:
        cut.add(buckets[0])
    if buckets[-1] + selection.step > window.end:
        cut.add(buckets[-1])
    return frozenset(cut)


def grouped_points(
    selection: Selection, metric: str, group_by: str | None, *, query: MetricsQuery | None = None
) -> dict[str, dict[datetime, float | None]]:
    """{group: {interval start: value}} as `metrics_timeseries` answers it."""
    points = metrics_timeseries(
        query or selection.query, metric=metric, interval=selection.interval, group_by=group_by
    )
    groups: dict[str, dict[datetime, float | None]] = {}
    for point in points:
        name = "all" if group_by is None else str(point.group)
        groups.setdefault(name, {})[point.time] = chart_number(point.value)
    return groups


def lines(
    selection: Selection,
    metric: str,
    *,
    group_by: str | None = None,
    zero_when_missing: bool = False,
    name: str | None = None,
) -> list[Series]:
    """One line per group (or a single line named `name`), ordered by group name."""
    groups = grouped_points(selection, metric, group_by)
    missing = 0.0 if zero_when_missing else None
    partial = partial_buckets(selection)
    return [
        Series(
            name=name if name and group_by is None else group,
            points=[(moment, values.get(moment, missing)) for moment in selection.buckets()],
            partial=partial,
        )
        for group, values in sorted(groups.items())
    ]


def compared_with_previous(selection: Selection, metric: str, *, label: str) -> list[Series]:
    """The window's line and the previous window's (dashed), paired by position: the previous
    window's first interval is drawn under the first interval of this one, and so on. (Its
    interval starts are not this window's minus its length when that length is not a whole
    number of intervals, e.g. 4 h 30 by the hour.)"""
    previous = selection.previous
    now = grouped_points(selection, metric, None).get("all", {})
    before = grouped_points(selection, metric, None, query=previous).get("all", {})
    buckets, earlier = selection.buckets(), selection.buckets(previous.window)
    partial = partial_buckets(selection)  # the previous window is cut at the same positions
    return [
        Series(label, [(moment, now.get(moment, 0.0)) for moment in buckets], partial=partial),
        Series(
            f"{label}, previous {selection.length_label}",
            # The windows can differ by one interval: a position the previous lacks is a gap.
            [
                (moment, before.get(earlier[index], 0.0) if index < len(earlier) else None)
                for index, moment in enumerate(buckets)
            ],
            dashed=True,
            partial=partial,
        ),
    ]


def stacked(
    selection: Selection, metric: str, *, group_by: str
) -> tuple[list[datetime], list[Bars]]:
    """Interval starts and one bar series per group, for stacked bars."""
    groups = grouped_points(selection, metric, group_by)
    buckets = selection.buckets()
    return buckets, [
        Bars(group, [values.get(moment) or 0.0 for moment in buckets])
        for group, values in sorted(groups.items())
    ]
