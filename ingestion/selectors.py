"""Reads of the raw event tables for other apps: ingestion owns those tables, so the SQL that
names them lives here.

The reads for analytics' reconciliation and rebuild take the positions in ingest order
(transaction id, sequence) up to which the caller wants events, one per stream: the rollup
job's watermarks, so that what is read is what the rollups hold. The rollup job reads each
stream past its watermark (`events_after`, from ingestion.event_reads); repricing reads an
hour of routing events with their prices; alert evaluation looks up a model's incident; the
request API and page read one request's attempts and checks (`request_traces`, from
ingestion.request_reads); the dashboard lists the latest blocked and modified requests
(`interceptions_latest`, from ingestion.interception_reads); the version rollups and rollouts
read router and policy versions (`version_rows`, `version_counts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import connection
from django.db.models import Min

from ingestion.event_reads import Position as Position
from ingestion.event_reads import events_after as events_after
from ingestion.interception_reads import Interception as Interception
from ingestion.interception_reads import interceptions_latest as interceptions_latest
from ingestion.models import RoutingEvent
from ingestion.partitions import PARTITIONED_TABLES, partition_name
from ingestion.partitions import month_start as month_start
from ingestion.request_reads import REQUEST_ID_MAX_LENGTH as REQUEST_ID_MAX_LENGTH
from ingestion.request_reads import RequestAttempt as RequestAttempt
from ingestion.request_reads import RequestCheck as RequestCheck
from ingestion.request_reads import RequestTrace as RequestTrace
from ingestion.request_reads import request_traces as request_traces
from tollgate.db.sql import fetch_rows, frame_query


@dataclass(frozen=True)
class RawHourTotals:
    """What one project's raw events of one hour add up to.

    Attempts are placed by their own timestamp, checks too; a request by its earliest event of
    either stream. `cost_usd` is each attempt's reported cost, else its priced cost (unpriced
    attempts count nothing), as every money figure is.
    """

    project_id: int
    hour: datetime
    attempts: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    checks: int
    requests: int


def _folded(position: Position) -> tuple[str, list[Any]]:
    """Events at or before `position` in ingest order."""
    return "(ingest_xid, seq) <= (%s::text::xid8, %s)", [str(position[0]), position[1]]


def _events_where(
    position: Position,
    project_ids: Sequence[int] | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[str, list[Any]]:
    folded, params = _folded(position)
    conditions = [folded]
    if project_ids is not None:
        conditions.append("project_id = ANY(%s)")
        params.append(list(project_ids))
    if start is not None:
        conditions.append('"timestamp" >= %s')
        params.append(start)
    if end is not None:
        conditions.append('"timestamp" < %s')
        params.append(end)
    return " AND ".join(conditions), params


# The conditions are filled in by `raw_hour_totals` (built there from constants; every value is
# a parameter).
HOUR_TOTALS_SQL = """
    WITH attempts AS (
        SELECT project_id, date_trunc('hour', "timestamp", 'UTC') AS hour,
               count(*) AS attempts, sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens,
               sum(COALESCE(reported_cost_usd, priced_cost_usd)) AS cost_usd
        FROM ingestion_routingevent WHERE {routing} GROUP BY 1, 2
    ), checks AS (
        SELECT project_id, date_trunc('hour', "timestamp", 'UTC') AS hour, count(*) AS checks
        FROM ingestion_enforcementevent WHERE {checks} GROUP BY 1, 2
    ), requests AS (
        SELECT project_id, date_trunc('hour', first_seen, 'UTC') AS hour, count(*) AS requests
        FROM (
            SELECT project_id, request_id, min("timestamp") AS first_seen FROM (
                SELECT project_id, request_id, "timestamp" FROM ingestion_routingevent
                WHERE {routing_all}
                UNION ALL
                SELECT project_id, request_id, "timestamp" FROM ingestion_enforcementevent
                WHERE {checks_all}
            ) events GROUP BY 1, 2
        ) firsts {first_seen_from}
        GROUP BY 1, 2
    )
    SELECT project_id, hour, COALESCE(attempts, 0), COALESCE(input_tokens, 0),
           COALESCE(output_tokens, 0), COALESCE(cost_usd, 0), COALESCE(checks, 0),
           COALESCE(requests, 0)
    FROM attempts FULL JOIN checks USING (project_id, hour)
         FULL JOIN requests USING (project_id, hour)
    ORDER BY project_id, hour
    """


def raw_hour_totals(
    *,
    routing_upto: Position,
    enforcement_upto: Position,
    project_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[RawHourTotals]:
    """Per project and hour in `[start, end)` (None: unbounded), what the raw events up to
    these positions add up to; hours without any event are left out.

    A request is placed by its earliest event among all of its events up to the positions,
    also those before `start`, so one whose first event is earlier does not count here.
    One statement, so every figure comes from one snapshot.
    """
    routing, routing_params = _events_where(routing_upto, project_ids, start, end)
    checks, checks_params = _events_where(enforcement_upto, project_ids, start, end)
    # Requests: every event before `end`, so that each is placed by its earliest event.
    routing_all, routing_all_params = _events_where(routing_upto, project_ids, None, end)
    checks_all, checks_all_params = _events_where(enforcement_upto, project_ids, None, end)
    first_seen_from = "" if start is None else "WHERE first_seen >= %s"
    sql = HOUR_TOTALS_SQL.format(
        routing=routing,
        checks=checks,
        routing_all=routing_all,
        checks_all=checks_all,
        first_seen_from=first_seen_from,
    )
    params = [*routing_params, *checks_params, *routing_all_params, *checks_all_params]
    if start is not None:
        params.append(start)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_hour_totals(row) for row in cursor.fetchall()]


def _hour_totals(row: tuple[Any, ...]) -> RawHourTotals:
    project_id, hour, attempts, input_tokens, output_tokens, cost_usd, checks, requests = row
    return RawHourTotals(
        project_id=project_id,
        hour=hour,
        attempts=attempts,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=Decimal(cost_usd),
        checks=checks,
        requests=requests,
    )


def raw_months_held(*, months: Sequence[date]) -> frozenset[date]:
    """Which of these months (first days) still have their raw events: both tables hold a
    partition for them (retention drops whole months, while rollups stay)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = ANY(%s)",
            [list(PARTITIONED_TABLES)],
        )
        partitions = {name for (name,) in cursor.fetchall()}
    return frozenset(
        month
        for month in months
        if all(partition_name(table, month) in partitions for table in PARTITIONED_TABLES)
    )


# What a request's events tell the rollups about it (analytics.rollups.rows folds the same columns).
REQUEST_ROUTING_COLUMNS = (
    "seq", "project_id", "service_id", "request_id", "timestamp", "environment", "model",
    "mode", "status", "latency_ms", "routing_latency_ms",
)  # fmt: skip
ENFORCEMENT_COLUMNS = (
    "seq", "project_id", "service_id", "request_id", "timestamp", "environment", "layer",
    "policy", "verdict", "violation", "false_positive", "check_latency_ms", "check_cost_units",
    "check_mode",
)  # fmt: skip
# Columns that are expressions, not names: the check's own cost in 1e-8 USD (None when absent)
# and the mode it carries ("" when none).
COLUMN_EXPRESSIONS = {
    "check_cost_units": "(cost_usd * 100000000)::bigint",
    "check_mode": "COALESCE(\"mode\", '')",
}


def enforcement_events_in(
    *, project_id: int, start: datetime, end: datetime, upto: Position
) -> list[tuple[Any, ...]]:
    """The project's enforcement events in `[start, end)` up to `upto`, as rows of
    ENFORCEMENT_COLUMNS in ingest order."""
    where, params = _events_where(upto, [project_id], start, end)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_quoted(ENFORCEMENT_COLUMNS))} FROM ingestion_enforcementevent "  # noqa: S608
            f"WHERE {where} ORDER BY ingest_xid, seq",
            params,
        )
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def request_events(
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    routing_upto: Position,
    enforcement_upto: Position,
    also: Sequence[str] = (),
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every event up to the positions of each request of the project that has one in
    `[start, end)` (and of the requests named in `also`), whenever the others happened: its
    routing events as rows of
    REQUEST_ROUTING_COLUMNS and its enforcement events as rows of ENFORCEMENT_COLUMNS, each
    in ingest order."""
    routing_in, routing_params = _events_where(routing_upto, [project_id], start, end)
    checks_in, checks_params = _events_where(enforcement_upto, [project_id], start, end)
    # Conditions built here from constants; every value is a parameter.
    requests = (
        f"SELECT request_id FROM ingestion_routingevent WHERE {routing_in} "  # noqa: S608
        f"UNION SELECT request_id FROM ingestion_enforcementevent WHERE {checks_in}"
    )
    found = []
    for table, columns, upto in (
        ("ingestion_routingevent", REQUEST_ROUTING_COLUMNS, routing_upto),
        ("ingestion_enforcementevent", ENFORCEMENT_COLUMNS, enforcement_upto),
    ):
        folded, folded_params = _folded(upto)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_quoted(columns))} FROM {table} "  # noqa: S608
                f"WHERE project_id = %s AND {folded} "
                f"AND (request_id IN ({requests}) OR request_id = ANY(%s)) "
                "ORDER BY ingest_xid, seq",
                [project_id, *folded_params, *routing_params, *checks_params, list(also)],
            )
            found.append(cursor.fetchall())
    return found[0], found[1]


def _quoted(columns: Sequence[str]) -> list[str]:
    return [COLUMN_EXPRESSIONS.get(name, f'"{name}"') for name in columns]


# --- Routing events for repricing (analytics.repricing) ----------------------------------

ROUTING_PRICE_SQL = """
SELECT event_id, seq, ingest_xid::text::bigint AS xid, project_id, service_id, "timestamp",
       environment, model, provider, mode, status, fallback_from, complexity_score,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
       latency_ms, routing_latency_ms,
       (reported_cost_usd * 100000000)::bigint AS reported_units,
       (priced_cost_usd * 100000000)::bigint AS priced_units, price_id
FROM ingestion_routingevent
WHERE project_id = %s AND "timestamp" >= %s AND "timestamp" < %s
"""
ROUTING_PRICE_COLUMNS = (
    "event_id", "seq", "xid", "project_id", "service_id", "timestamp", "environment", "model",
    "provider", "mode", "status", "fallback_from", "complexity_score", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "latency_ms",
    "routing_latency_ms", "reported_units", "priced_units", "price_id",
)  # fmt: skip


def routing_events_priced(*, project_id: int, start: datetime, end: datetime) -> pd.DataFrame:
    """The project's routing events in `[start, end)`, whatever their position in ingest
    order (`xid`, `seq`), as ROUTING_PRICE_COLUMNS: reported and priced cost in 1e-8 USD (NA
    where there is none) and the price row, timestamps as UTC datetimes."""
    events = frame_query(ROUTING_PRICE_SQL, [project_id, start, end], ROUTING_PRICE_COLUMNS)
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    return events


def first_routing_event_at(*, project_id: int) -> datetime | None:
    """When the project's earliest routing event happened; None before its first."""
    first: datetime | None = RoutingEvent.objects.filter(project_id=project_id).aggregate(
        first=Min("timestamp")
    )["first"]
    return first


def routing_events_exist(
    *, project_id: int, since: datetime | None, until: datetime | None
) -> bool:
    """Whether the project has a routing event in `[since, until)` (None: unbounded)."""
    events = RoutingEvent.objects.filter(project_id=project_id)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lt=until)
    return events.exists()


# --- Incidents (analytics.alerts) --------------------------------------------------------


@dataclass(frozen=True)
class ModelFailover:
    """How a model's incident moved its traffic away: its first failed attempt, and the
    first minute after it whose fallback traffic (attempts that fell back from the model)
    had an error rate under the bound; None where there was none."""

    first_failure_at: datetime | None
    migrated_at: datetime | None


def model_failover(
    *, project_id: int, model: str, since: datetime, until: datetime, error_rate_below: Decimal
) -> ModelFailover:
    """The model's failover in the project: its first failed attempt in `[since, until)`,
    and the first minute from then until `until` that its fallbacks served with an error
    rate under `error_rate_below`. Reads the raw events of that span only."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH first_failure AS (
                SELECT min("timestamp") AS at FROM ingestion_routingevent
                WHERE project_id = %s AND model = %s AND status <> 'ok'
                  AND "timestamp" >= %s AND "timestamp" < %s
            ), fallback_minutes AS (
                SELECT date_trunc('minute', "timestamp", 'UTC') AS minute,
                       avg((status <> 'ok')::int) AS error_rate
                FROM ingestion_routingevent, first_failure
                WHERE project_id = %s AND fallback_from = %s
                  AND "timestamp" >= first_failure.at AND "timestamp" < %s
                GROUP BY 1
            )
            SELECT first_failure.at,
                   (SELECT min(minute) FROM fallback_minutes WHERE error_rate < %s)
            FROM first_failure
            """,
            [project_id, model, since, until, project_id, model, until, error_rate_below],
        )
        first_failure, migrated = cursor.fetchone()
    return ModelFailover(first_failure_at=first_failure, migrated_at=migrated)


@dataclass(frozen=True)
class FailoverSpan:
    """A model incident to follow: the model of a project, the span to read, and the error
    rate its fallbacks must come under."""

    project_id: int
    model: str
    since: datetime
    until: datetime
    error_rate_below: Decimal


@dataclass(frozen=True)
class ModeFailover:
    """One incident's failover within the traffic of one mode (the attempts' own mode): as
    `ModelFailover`, for the incident at `span` (its index in the spans asked for)."""

    span: int
    mode: str
    first_failure_at: datetime
    migrated_at: datetime | None


def models_failover_by_mode(*, spans: Sequence[FailoverSpan]) -> list[ModeFailover]:
    """`model_failover` of every span at once, per mode of the attempts: for each span and
    each mode with a failed attempt of the model in it, that first failure and the first
    minute from then until the span's end whose fallbacks of that mode (from the model) had
    an error rate under the bound. One statement whatever the number of spans."""
    if not spans:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH spans AS (
                SELECT * FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::timestamptz[],
                                     %s::timestamptz[], %s::numeric[])
                    AS s(span, project_id, model, since, until, below)
            ), failures AS (
                SELECT s.span, e.mode, min(e."timestamp") AS at
                FROM spans s JOIN ingestion_routingevent e
                  ON e.project_id = s.project_id AND e.model = s.model AND e.status <> 'ok'
                 AND e."timestamp" >= s.since AND e."timestamp" < s.until
                GROUP BY s.span, e.mode
            ), fallback_minutes AS (
                SELECT f.span, f.mode, date_trunc('minute', e."timestamp", 'UTC') AS minute,
                       avg((e.status <> 'ok')::int) AS error_rate
                FROM failures f JOIN spans s USING (span) JOIN ingestion_routingevent e
                  ON e.project_id = s.project_id AND e.fallback_from = s.model
                 AND e.mode = f.mode AND e."timestamp" >= f.at AND e."timestamp" < s.until
                GROUP BY 1, 2, 3
            )
            SELECT f.span, f.mode, f.at,
                   (SELECT min(m.minute) FROM fallback_minutes m
                    WHERE m.span = f.span AND m.mode = f.mode AND m.error_rate < s.below)
            FROM failures f JOIN spans s USING (span)
            ORDER BY f.span, f.mode
            """,
            [
                list(range(len(spans))),
                [span.project_id for span in spans],
                [span.model for span in spans],
                [span.since for span in spans],
                [span.until for span in spans],
                [span.error_rate_below for span in spans],
            ],
        )
        rows = cursor.fetchall()
    return [
        ModeFailover(span=span, mode=mode, first_failure_at=at, migrated_at=migrated)
        for span, mode, at, migrated in rows
    ]


# --- Versions (analytics' version rollups and rollouts) ----------------------------------
# A component is the router (routing events carrying `router_version`) or one policy
# (`policy:<name>`, enforcement events carrying `policy_version`); an event's mode is its own
# ("" when an enforcement event carries none).

ROUTER = "router"
POLICY_PREFIX = "policy:"

# Per minute, project, service, environment, component, version and mode: the events and
# the exact times of the first and last. Conditions are filled in from constants below.
VERSION_ROWS_SQL = """
SELECT date_trunc('minute', "timestamp", 'UTC') AS bucket, project_id, service_id, environment,
       %s AS component, router_version AS version, mode, count(*), min("timestamp"),
       max("timestamp")
FROM ingestion_routingevent
WHERE router_version IS NOT NULL AND router_version <> '' AND {routing}
GROUP BY 1, 2, 3, 4, 6, 7
UNION ALL
SELECT date_trunc('minute', "timestamp", 'UTC'), project_id, service_id, environment,
       %s || policy, policy_version, COALESCE(mode, ''), count(*), min("timestamp"),
       max("timestamp")
FROM ingestion_enforcementevent
WHERE policy_version IS NOT NULL AND policy_version <> '' AND {checks}
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
VERSION_ROW_COLUMNS = (
    "bucket", "project_id", "service_id", "environment", "component", "version", "mode",
    "events", "first_at", "last_at",
)  # fmt: skip


def version_rows(
    *,
    routing_upto: Position,
    enforcement_upto: Position,
    project_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[Any, ...]]:
    """The version rollup rows (VERSION_ROW_COLUMNS) the raw events up to these positions make,
    of one project (None: every project) in `[start, end)` (None: unbounded)."""
    projects = None if project_id is None else [project_id]
    routing, routing_params = _events_where(routing_upto, projects, start, end)
    checks, checks_params = _events_where(enforcement_upto, projects, start, end)
    with connection.cursor() as cursor:
        cursor.execute(
            VERSION_ROWS_SQL.format(routing=routing, checks=checks),
            [ROUTER, *routing_params, POLICY_PREFIX, *checks_params],
        )
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def versioned_events_span() -> tuple[datetime, datetime] | None:
    """When the earliest and the latest raw event carrying a version happened; None when
    none does."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min(lo), max(hi) FROM (
                SELECT min("timestamp") AS lo, max("timestamp") AS hi
                FROM ingestion_routingevent WHERE router_version IS NOT NULL
                UNION ALL
                SELECT min("timestamp"), max("timestamp")
                FROM ingestion_enforcementevent WHERE policy_version IS NOT NULL
            ) spans
            """
        )
        lo, hi = cursor.fetchone()
    return None if lo is None else (lo, hi)


@dataclass(frozen=True)
class VersionSpan:
    """A span `[start, end]` (both ends included) of one project's component, and the version
    whose events are not counted as older there."""

    project_id: int
    component: str
    version: str
    start: datetime
    end: datetime
    mode: str | None = None  # only the events of this mode ("" for none); None: every mode


@dataclass(frozen=True)
class VersionCounts:
    """The component's events in a span carrying a version, and those of them carrying
    another version than the span's."""

    events: int
    older: int


# One statement for every span: each span's events are found through the tables' timestamp
# index (a rollout's span is short); filters come from constants in `version_counts`.
VERSION_COUNTS_SQL = """
SELECT s.i, count(e.version), count(e.version) FILTER (WHERE e.version <> s.version)
FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[],
            %s::timestamptz[], %s::text[]) AS s(i, project_id, policy, version, start_at, end_at,
                                                mode)
LEFT JOIN LATERAL (
    SELECT router_version AS version FROM ingestion_routingevent r
    WHERE s.policy IS NULL AND r.project_id = s.project_id
      AND r."timestamp" >= s.start_at AND r."timestamp" <= s.end_at
      AND r.router_version IS NOT NULL AND r.router_version <> ''
      AND (s.mode IS NULL OR r.mode = s.mode) {routing}
    UNION ALL
    SELECT policy_version FROM ingestion_enforcementevent c
    WHERE s.policy IS NOT NULL AND c.project_id = s.project_id AND c.policy = s.policy
      AND c."timestamp" >= s.start_at AND c."timestamp" <= s.end_at
      AND c.policy_version IS NOT NULL AND c.policy_version <> ''
      AND (s.mode IS NULL OR COALESCE(c.mode, '') = s.mode) {checks}
) e ON true
GROUP BY s.i
"""


def _version_filters(
    alias: str, service_ids: Sequence[int] | None, environment: str | None
) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if service_ids is not None:
        conditions.append(f"{alias}.service_id = ANY(%s)")
        params.append(list(service_ids))
    if environment is not None:
        conditions.append(f"{alias}.environment = %s")
        params.append(environment)
    return "".join(f" AND {condition}" for condition in conditions), params


def version_counts(
    spans: Sequence[VersionSpan],
    *,
    service_ids: Sequence[int] | None = None,
    environment: str | None = None,
) -> list[VersionCounts]:
    """Per span, in order, the component's events in it carrying a version and those carrying
    another than the span's, by their exact timestamps, under the filters and the span's mode
    (an enforcement event's mode is its own, "" when it carries none)."""
    if not spans:
        return []
    routing, routing_params = _version_filters("r", service_ids, environment)
    checks, checks_params = _version_filters("c", service_ids, environment)
    policies = [
        span.component.removeprefix(POLICY_PREFIX)
        if span.component.startswith(POLICY_PREFIX)
        else None
        for span in spans
    ]
    rows = fetch_rows(
        VERSION_COUNTS_SQL.format(routing=routing, checks=checks),
        [
            list(range(len(spans))),
            [span.project_id for span in spans],
            policies,
            [span.version for span in spans],
            [span.start for span in spans],
            [span.end for span in spans],
            [span.mode for span in spans],
            *routing_params,
            *checks_params,
        ],
    )
    found = {i: VersionCounts(events=events, older=older) for i, events, older in rows}
    return [found[i] for i in range(len(spans))]
