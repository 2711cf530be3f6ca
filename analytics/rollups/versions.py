"""The version rollups: events per minute, hour and day of each router and policy version
(`analytics_versionrollup`), which rollouts are read from (analytics.metrics.rollouts).

The rollup job adds each chunk's rows of every grain with an upsert (events added, the first
and last event's times kept as the least and greatest), so late events and any order of
folding give the same rows; a rebuild replaces an hour's minutes and the hour with what the
raw events make (`ingestion.selectors.version_rows`, the same minute rows by SQL) and makes
its day again from the day's hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from django.db import connection

from ingestion.selectors import POLICY_PREFIX, ROUTER, VERSION_ROW_COLUMNS
from tollgate.db.sql import column_values, copy_rows, execute

DIMS = ("project_id", "service_id", "environment", "component", "version", "mode")

GRAIN_FLOOR = {"m": "min", "h": "h", "d": "D"}

COLUMNS = (
    "grain", "bucket", "project_id", "service_id", "environment", "component", "version", "mode",
    "events", "first_at", "last_at",
)  # fmt: skip
TYPES = (
    "text", "timestamptz", "int8", "int8", "text", "text", "text", "text", "int8", "timestamptz",
    "timestamptz",
)  # fmt: skip
STAGE = "stage_analytics_versionrollup"
# The staged rows (one binary COPY: adapting arrays of a chunk's rows as parameters cost more
# than the upsert itself) added to the stored ones, the stage emptied in the same statement.
UPSERT_SQL = f"""
WITH staged AS (DELETE FROM {STAGE} RETURNING *)
INSERT INTO analytics_versionrollup ({", ".join(COLUMNS)})
SELECT {", ".join(COLUMNS)} FROM staged
ON CONFLICT (grain, project_id, component, bucket, version, mode, service_id, environment)
DO UPDATE SET events = analytics_versionrollup.events + EXCLUDED.events,
              first_at = LEAST(analytics_versionrollup.first_at, EXCLUDED.first_at),
              last_at = GREATEST(analytics_versionrollup.last_at, EXCLUDED.last_at)
"""


def version_event_rows(routing: pd.DataFrame, enforcement: pd.DataFrame) -> pd.DataFrame:
    """The version rollup rows (VERSION_ROW_COLUMNS) that a chunk's events add: routing events
    with a `router_version` and enforcement events with a `policy_version` ("" is none)."""
    parts = []
    if not routing.empty:
        carrying = routing[routing["router_version"] != ""]
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": carrying["timestamp"],
                    "project_id": carrying["project_id"],
                    "service_id": carrying["service_id"],
                    "environment": carrying["environment"],
                    "component": ROUTER,
                    "version": carrying["router_version"],
                    "mode": carrying["mode"],
                }
            )
        )
    if not enforcement.empty:
        carrying = enforcement[enforcement["policy_version"] != ""]
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": carrying["timestamp"],
                    "project_id": carrying["project_id"],
                    "service_id": carrying["service_id"],
                    "environment": carrying["environment"],
                    "component": POLICY_PREFIX + carrying["policy"],
                    "version": carrying["policy_version"],
                    "mode": carrying["check_mode"],
                }
            )
        )
    events = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if events.empty:
        return pd.DataFrame(columns=list(VERSION_ROW_COLUMNS))
    events["bucket"] = events["timestamp"].dt.floor("min")
    rows = (
        events.groupby(["bucket", *DIMS], sort=False)["timestamp"]
        .agg(events="size", first_at="min", last_at="max")
        .reset_index()
    )
    return rows[list(VERSION_ROW_COLUMNS)]


def version_grains(minutes: pd.DataFrame, grains: str = "mhd") -> pd.DataFrame:
    """The rows of each of `grains` that these minute rows add up to, with their `grain`."""
    if minutes.empty:
        return minutes.assign(grain="")
    frames = []
    for grain in grains:
        rows = minutes.assign(bucket=minutes["bucket"].dt.floor(GRAIN_FLOOR[grain]))
        if grain != "m":
            rows = (
                rows.groupby(["bucket", *DIMS], sort=False)
                .agg(
                    events=("events", "sum"),
                    first_at=("first_at", "min"),
                    last_at=("last_at", "max"),
                )
                .reset_index()
            )
        frames.append(rows.assign(grain=grain))
    return pd.concat(frames, ignore_index=True)


def versions_add(rows: pd.DataFrame) -> None:
    """Add these rows (of any grain, `version_grains`) to the version rollups, in the caller's
    transaction."""
    if rows.empty:
        return
    execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS "
        f"AS SELECT {', '.join(COLUMNS)} FROM analytics_versionrollup WITH NO DATA"
    )
    copy_rows(
        STAGE,
        COLUMNS,
        zip(*(column_values(rows[name]) for name in COLUMNS), strict=True),
        binary_types=TYPES,
    )
    execute(UPSERT_SQL)


def versions_hour_replace(minutes: pd.DataFrame, *, project_id: int, hour: datetime) -> None:
    """Make the project's version rollups of one hour (its minutes and the hour) exactly what
    these minute rows make, and its day what the day's hours add up to."""
    day = hour.replace(hour=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM analytics_versionrollup WHERE project_id = %s AND ("
            "(grain IN ('m', 'h') AND bucket >= %s AND bucket < %s) "
            "OR (grain = 'd' AND bucket = %s))",
            [project_id, hour, hour + timedelta(hours=1), day],
        )
        versions_add(version_grains(minutes, "mh"))
        cursor.execute(DAY_FROM_HOURS_SQL, [project_id, day, day + timedelta(days=1)])


# The day's rows: what its hour rows add up to.
DAY_FROM_HOURS_SQL = """
INSERT INTO analytics_versionrollup
    (grain, bucket, project_id, service_id, environment, component, version, mode, events,
     first_at, last_at)
SELECT 'd', date_trunc('day', bucket, 'UTC'), project_id, service_id, environment, component,
       version, mode, sum(events), min(first_at), max(last_at)
FROM analytics_versionrollup
WHERE grain = 'h' AND project_id = %s AND bucket >= %s AND bucket < %s
GROUP BY 2, 3, 4, 5, 6, 7, 8
"""


def version_rows_frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """Rows read from the raw events as a frame of VERSION_ROW_COLUMNS."""
    frame = pd.DataFrame(rows, columns=list(VERSION_ROW_COLUMNS))
    for name in ("bucket", "first_at", "last_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
