"""Rollouts (DESIGN.md "Architecture comparison and advice", **Rollouts**): when a new router
or policy version took over, how long older versions kept answering, and how mixed the traffic
was meanwhile.

Per project and component (the router, or `policy:<name>`) the version rollups' minute rows
are walked in time order, by each row's first event (consecutive rows of one version as one
run, which the walk judges as it would each of them). The current version is the first one
seen. A row of another version W starts a rollout of W (from the current one) at its first
event, unless W was current before and the current version still has an event after it within
24 h of the rollout in progress's start: then it is a straggler, and the rollout ends at the
latest straggler (never past the current version's last event of those 24 h, nor the next
rollout's start). So a rollback (v1, v2, v1) is a rollout of v1 from v2 at the first v1 event
after v2's last event (or after v2's 24 h). A row is judged as a whole: events of two
versions interleaved within the one minute where the current version stops are all taken as
stragglers.

Starts and ends are the rows' exact first and last event times. The mixed-version share and
the events of each rollout's span are counted from the raw events by their exact timestamps
(`ingestion.selectors.version_counts`, one statement for every rollout): a minute row cannot
tell how many of its events fall inside a span that starts or ends within it.

The walk starts 48 h before the window, so a rollout at the window's start has the version it
replaced, and one begun a day before the window has settled (its 24 h are over) by the time
the window's own rollouts are judged; it reads on to 24 h past the window's end, so a rollout
in the window is judged on its whole 24 h, whatever the window's end. Rollouts listed are
those starting in the window.

Filters: project, service, environment and mode (the event's own; "", as the API passes
`unknown`, for the enforcement events that carry none) apply to the events walked and
counted; `policy` keeps that policy's component alone; `model` does not apply (policy checks
have no model).
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from operator import itemgetter
from typing import Any

from analytics.metrics.query import MetricsQuery, rate
from analytics.metrics.results import Rollout, RolloutsSummary, Spread
from analytics.metrics.window import Window
from ingestion.selectors import POLICY_PREFIX, VersionSpan, version_counts
from tollgate.db.sql import fetch_rows

STRAGGLER_WINDOW = timedelta(hours=24)
LOOK_BACK = 2 * STRAGGLER_WINDOW

# Per version and bucket, the first and last event, under the query's filters.
ROWS_SQL = """
SELECT t.project_id, t.component, {mode}, t.version, t.grain, t.bucket, min(t.first_at),
       max(t.last_at)
FROM analytics_versionrollup t
WHERE {conditions}
GROUP BY 1, 2, 3, 4, 5, 6
"""
# Per mode (the comparison's rows), or the query's events all together.
BY_MODE = {True: "t.mode", False: "NULL::text"}
# The rows of the finer grain within each span of a component (a day or an hour in which it
# had more than one version), grouped span by span: each span is an index-only range of the
# unique index (grain, project, component, bucket ... INCLUDE first and last event), and a
# span's few hundred rows are grouped on their own as the index orders them (bucket, version,
# mode), where one GROUP BY over all the spans had the planner sort them all.
REFINED_SQL = """
SELECT s.project_id, s.component, v.mode, v.version, s.grain, v.bucket, v.first_at, v.last_at
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
     AS s(project_id, component, grain, start_at, end_at)
CROSS JOIN LATERAL (
    SELECT {mode} AS mode, t.version, t.bucket, min(t.first_at) AS first_at,
           max(t.last_at) AS last_at
    FROM analytics_versionrollup t
    WHERE t.grain = s.grain AND t.project_id = s.project_id AND t.component = s.component
      AND t.bucket >= s.start_at AND t.bucket < s.end_at {filters}
    GROUP BY t.bucket, t.version, {mode}
) v
"""
FINER = {"d": "h", "h": "m"}
ROW_BUCKET = itemgetter(0, 1, 4, 5)  # a row's project, component, grain and bucket
STEP = {"d": timedelta(days=1), "h": timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class _Row:
    """A run of one version of a component: its first and last event."""

    version: str
    first_at: datetime
    last_at: datetime


@dataclass(slots=True)
class _Found:
    """A rollout as the walk finds it."""

    version: str
    from_version: str
    start: datetime
    end: datetime


def rollouts_list(query: MetricsQuery) -> list[Rollout]:
    """The query's rollouts that start in its window, in time order."""
    return _rollouts(query, by_mode=False).get(None, [])


def rollouts_by_mode(query: MetricsQuery) -> dict[str, list[Rollout]]:
    """Per mode of the events ("" for none), the rollouts `/rollouts?mode=` lists for it: one
    walk and one count of every mode at once, for the comparison's rows."""
    return {str(mode): rollouts for mode, rollouts in _rollouts(query, by_mode=True).items()}


def _rollouts(query: MetricsQuery, *, by_mode: bool) -> dict[str | None, list[Rollout]]:
    """The rollouts starting in the window, per mode when `by_mode` (else under None)."""
    names = {project.pk: project.name for project in query.projects}
    found: list[tuple[int, str, str | None, _Found]] = []
    for (project_id, component, mode), rows in _timelines(query, by_mode=by_mode).items():
        found += [
            (project_id, component, mode, rollout)
            for rollout in _walk(rows)
            if query.window.start <= rollout.start < query.window.end
        ]
    counts = version_counts(
        [
            VersionSpan(
                project_id=project_id,
                component=component,
                version=rollout.version,
                start=rollout.start,
                end=rollout.end,
                mode=mode if by_mode else query.mode,
            )
            for project_id, component, mode, rollout in found
        ],
        service_ids=query.service_ids,
        environment=query.environment,
    )
    by_key: dict[str | None, list[Rollout]] = {}
    for (project_id, component, mode, rollout), count in zip(found, counts, strict=True):
        by_key.setdefault(mode, []).append(
            Rollout(
                project=names[project_id],
                component=component,
                version=rollout.version,
                from_version=rollout.from_version,
                started_at=rollout.start,
                ended_at=rollout.end,
                propagation_s=(rollout.end - rollout.start).total_seconds(),
                mixed_version_share=rate(count.older, count.events),
                events=count.events,
                older_events=count.older,
            )
        )
    return {
        key: sorted(rollouts, key=lambda r: (r.started_at, r.project, r.component))
        for key, rollouts in by_key.items()
    }


def summary_of(rollouts: Sequence[Rollout]) -> RolloutsSummary:
    """These rollouts in brief (the comparison's maintainability): their count, the median and
    largest propagation, and the share of older-version events over all their spans' events
    together (None without rollouts)."""
    propagation = [rollout.propagation_s for rollout in rollouts]
    events = sum(rollout.events for rollout in rollouts)
    older = sum(rollout.older_events for rollout in rollouts)
    return RolloutsSummary(
        rollouts=len(rollouts),
        propagation_s=Spread(
            median=statistics.median(propagation) if propagation else None,
            max=max(propagation) if propagation else None,
        ),
        mixed_version_share=rate(older, events) if rollouts else None,
    )


Timeline = tuple[int, str, str | None]  # project id, component, mode (None: every mode)


def _timelines(query: MetricsQuery, *, by_mode: bool) -> dict[Timeline, list[_Row]]:
    """Per project, component (and mode when `by_mode`), its runs of one version from the
    look-back's start to a day past the window's end (so a rollout starting in the window is judged on all of its
    24 h whatever the window's end), in order of their first event.

    The span is read at the coarsest grains that tile it, and a day or hour in which a
    component had more than one version is read again at the next finer grain, down to
    minutes (at most three statements): a run is the same whether read from its minutes or
    from the hours and days that hold it alone, so a month of steady versions is a few dozen
    rows, not one per minute.
    """
    if not query.projects:
        return {}
    span = Window(query.window.start - LOOK_BACK, query.window.end + STRAGGLER_WINDOW)
    filters, filter_params = _filters(query)
    pieces = span.pieces()
    tiling = " OR ".join("(t.grain = %s AND t.bucket >= %s AND t.bucket < %s)" for _ in pieces)
    rows = fetch_rows(
        ROWS_SQL.format(
            mode=BY_MODE[by_mode],
            conditions=" AND ".join(["t.project_id = ANY(%s)", f"({tiling})", *filters]),
        ),
        [query.project_ids, *(value for piece in pieces for value in piece), *filter_params],
    )
    kept: list[tuple[Any, ...]] = []
    while rows:
        # A bucket is read again at the finer grain for every mode when one mode had more
        # than one version in it (rows are one per version of a mode's bucket).
        versions = Counter(map(itemgetter(0, 1, 2, 4, 5), rows))
        mixed = list(
            dict.fromkeys(
                (project_id, component, grain, bucket)
                for (project_id, component, _, grain, bucket), count in versions.items()
                if count > 1 and grain in FINER
            )
        )
        refined = set(mixed)
        kept += [row for row in rows if ROW_BUCKET(row) not in refined]
        if not mixed:
            break
        rows = fetch_rows(
            REFINED_SQL.format(
                mode=BY_MODE[by_mode], filters="".join(f" AND {f}" for f in filters)
            ),
            [
                [project_id for project_id, _, _, _ in mixed],
                [component for _, component, _, _ in mixed],
                [FINER[grain] for _, _, grain, _ in mixed],
                [bucket for _, _, _, bucket in mixed],
                [bucket + STEP[grain] for _, _, grain, bucket in mixed],
                *filter_params,
            ],
        )
    return _runs(kept)


def _filters(query: MetricsQuery) -> tuple[list[str], list[Any]]:
    """The conditions (and parameters) of the query's filters on the version rollups."""
    conditions: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("t.service_id = ANY(%s)", None if query.service_ids is None else list(query.service_ids)),
        ("t.environment = %s", query.environment),
        ("t.mode = %s", query.mode),
        ("t.component = %s", None if query.policy is None else POLICY_PREFIX + query.policy),
    ):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    return conditions, params


def _runs(rows: list[tuple[Any, ...]]) -> dict[Timeline, list[_Row]]:
    """Per project, component and mode, its rows (each of one version) in order of their
    first event (then version), consecutive rows of one version merged into one run."""
    grouped: dict[Timeline, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[:3], []).append(row)
    timelines: dict[Timeline, list[_Row]] = {}
    for timeline, timeline_rows in grouped.items():
        timeline_rows.sort(key=itemgetter(6, 3))
        runs = timelines[timeline] = []
        _, _, _, version, _, _, first_at, last_at = timeline_rows[0]
        for _, _, _, row_version, _, _, row_first_at, row_last_at in timeline_rows[1:]:
            if row_version == version:
                last_at = max(last_at, row_last_at)
            else:
                runs.append(_Row(version, first_at, last_at))
                version, first_at, last_at = row_version, row_first_at, row_last_at
        runs.append(_Row(version, first_at, last_at))
    return timelines


def _walk(rows: Sequence[_Row]) -> list[_Found]:
    """The rollouts of one component's timeline (runs in order of their first event)."""
    starts: dict[str, list[datetime]] = {}
    latest: dict[str, list[datetime]] = {}  # the latest last event of the rows up to each
    for row in rows:
        starts.setdefault(row.version, []).append(row.first_at)
        so_far = latest.setdefault(row.version, [])
        so_far.append(max(so_far[-1], row.last_at) if so_far else row.last_at)

    def last_event(version: str, until: datetime) -> datetime | None:
        """The version's last event at or before `until` (a minute row that runs past it
        counts up to it)."""
        index = bisect_right(starts[version], until)
        return min(latest[version][index - 1], until) if index else None

    found: list[_Found] = []
    current = rows[0].version if rows else ""
    previous: set[str] = set()
    rollout: _Found | None = None

    def straggle(row: _Row) -> bool:
        """Whether the row is a straggler of the rollout in progress; it then extends it."""
        if rollout is None or row.version not in previous:
            return False
        last = last_event(current, rollout.start + STRAGGLER_WINDOW)
        if last is None or not max(row.first_at, rollout.start) < last:
            return False
        rollout.end = max(rollout.end, min(row.last_at, last))
        return True

    for index, row in enumerate(rows):
        if row.version == current or straggle(row):
            continue
        previous.add(current)
        rollout = _Found(
            version=row.version, from_version=current, start=row.first_at, end=row.first_at
        )
        found.append(rollout)
        current = row.version
        # Runs ending in this minute (just before this one: runs are in order of their first
        # event) may hold older events after the start.
        before = index - 1
        while before >= 0 and _minute(rows[before].last_at) == _minute(row.first_at):
            if rows[before].last_at > rollout.start:
                straggle(rows[before])
            before -= 1
    for rollout, following in pairwise(found):
        rollout.end = max(rollout.start, min(rollout.end, following.start))
    return found


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
