"""Rebuilding rollups from raw events: the repair for the hours reconciliation found wrong
(analytics.rollups.reconcile).

An hour is rebuilt exactly as the rollup job would have made it from the events it has folded
in (those at or before its watermarks): the attempt rollups from the hour's routing events
(as a repricing rebuilds them), the layer and version rollups from its events, and the request
facts of every request with an event in the hour from all of their events, with the request
rollups of each hour a changed fact leaves or enters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import Grain, LayerRollup, RequestFact, RequestRollup, VersionRollup
from analytics.repricing.job import hour_attempts_rebuild
from analytics.rollups.facts import FACT_COLUMNS, request_contributions
from analytics.rollups.families import LAYERS, REQUESTS, hour_rows_replace
from analytics.rollups.job import ROLLUP_LOCK_KEY
from analytics.rollups.reconcile import (
    HourDifference,
    folded_positions,
    mismatches_open_within,
    mismatches_resolve,
    reconcile_lock,
    rollups_compare,
)
from analytics.rollups.rows import layer_event_rows, request_facts_of
from analytics.rollups.versions import (
    version_grains,
    version_rows_frame,
    versions_add,
    versions_hour_replace,
)
from governance.models import Project
from ingestion.selectors import (
    ENFORCEMENT_COLUMNS,
    REQUEST_ROUTING_COLUMNS,
    Position,
    enforcement_events_in,
    month_start,
    raw_months_held,
    request_events,
    routing_events_priced,
    version_rows,
    versioned_events_span,
)

HOUR = timedelta(hours=1)


# --- Rebuilding --------------------------------------------------------------------------


@dataclass
class RebuildRun:
    """What a rebuild did."""

    hours: int = 0
    skipped: int = 0  # hours of months whose raw events retention dropped
    resolved: int = 0
    still_differing: list[HourDifference] = field(default_factory=list)


def rollups_rebuild(
    *, project: Project, start: datetime, end: datetime, now: datetime | None = None
) -> RebuildRun:
    """Recompute the project's rollups of every hour in `[start, end)` (taken to whole hours)
    from its raw events, an hour per transaction under the rollup lock (waiting for a
    running rollup job to finish its run), exactly as the rollup job would have made them;
    resolve the mismatches of the hours that now agree with their raw events. Hours of months
    whose raw events retention dropped are skipped (their rollups are all that is left).

    Idempotent: a second rebuild of the same hours writes the same rows again.
    """
    now = now or timezone.now()
    run = RebuildRun()
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours: list[datetime] = []
    while first + len(hours) * HOUR < end:
        hours.append(first + len(hours) * HOUR)
    # Hours of months whose raw events retention dropped keep their rollups on purpose:
    # rebuilt from nothing, they would be emptied.
    held = raw_months_held(months=sorted({month_start(hour) for hour in hours}))
    with reconcile_lock():
        for hour in hours:
            if month_start(hour) not in held:
                run.skipped += 1
                continue
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY])
                hour_rebuild(project_id=project.pk, start=hour, end=hour + HOUR)
            run.hours += 1
        # One comparison over the span, not one per hour (each reads the project's requests).
        _, differences = rollups_compare(project_ids=[project.pk], start=first, end=end)
        keep = {(d.project_id, d.hour) for d in differences}
        with transaction.atomic():
            run.resolved = mismatches_resolve(
                mismatches_open_within([project.pk], first, end), keep=keep, now=now, by="rebuild"
            )
        run.still_differing = differences
    return run


def hour_rebuild(*, project_id: int, start: datetime, end: datetime) -> None:
    """Make one hour's attempt, layer, request and version rollups (minute, hour and the day that holds
    them) what the raw events the rollup job has folded in make; the caller's transaction
    holds the rollup lock.

    Requests: the facts of every request with an event in the hour (or placed in it) are
    computed again from all of their folded events, and the request rollups of every hour a
    changed fact leaves or enters are rebuilt from the facts.
    """
    positions = folded_positions()
    attempts = routing_events_priced(project_id=project_id, start=start, end=end)
    attempts["cost_units"] = (
        attempts["reported_units"].astype("Int64").fillna(attempts["priced_units"].astype("Int64"))
    )
    hour_attempts_rebuild(project_id=project_id, start=start, end=end, events=attempts)

    _layers_rebuild(project_id, start, end, positions)
    _requests_rebuild(project_id, start, end, positions)
    _versions_rebuild(project_id, start, end, positions)


def _versions_rebuild(
    project_id: int, start: datetime, end: datetime, positions: dict[str, Position]
) -> None:
    """One hour's version rollups (its minutes, the hour, its day) from its events folded in so
    far."""
    rows = version_rows(
        routing_upto=positions["routing"],
        enforcement_upto=positions["enforcement"],
        project_id=project_id,
        start=start,
        end=end,
    )
    versions_hour_replace(version_rows_frame(rows), project_id=project_id, hour=start)


def version_rollups_rebuild_all() -> None:
    """Make the version rollups what every raw event folded in so far makes, a day at a time
    (so memory holds one day's minute rows), in the caller's transaction under the rollup
    lock. For the migration that added them: months whose raw events retention dropped have
    none to give."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY])
    positions = folded_positions()
    VersionRollup.objects.all().delete()
    span = versioned_events_span()
    if span is None:
        return
    day = span[0].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= span[1]:
        rows = version_rows(
            routing_upto=positions["routing"],
            enforcement_upto=positions["enforcement"],
            start=day,
            end=day + timedelta(days=1),
        )
        versions_add(version_grains(version_rows_frame(rows)))
        day += timedelta(days=1)


def _layers_rebuild(
    project_id: int, start: datetime, end: datetime, positions: dict[str, Position]
) -> None:
    """One hour's layer rollups from its enforcement events folded in so far."""
    checks = _frame(
        enforcement_events_in(
            project_id=project_id, start=start, end=end, upto=positions["enforcement"]
        ),
        ENFORCEMENT_COLUMNS,
    )
    span = (project_id, pd.Timestamp(start), pd.Timestamp(end))
    hour_rows_replace(LAYERS, span, layer_event_rows(checks))


def request_rollups_rebuild_all() -> int:
    """Rebuild the request facts and rollups of every hour that holds request rollups from the
    raw events; return the hours rebuilt. For the migration that added end-to-end latency:
    facts made before it hold no attempt latency. Hours of months whose raw events retention
    dropped keep their rows (their end-to-end sketches stay empty)."""
    return _every_hour_rebuild(RequestRollup, _requests_rebuild)


def layer_rollups_rebuild_all() -> int:
    """Rebuild the layer rollups of every hour that holds any (minutes, hours, their days)
    from the raw events; return the hours rebuilt. For the migration that split them by
    policy: hours of months whose raw events retention dropped keep their rows (their policy
    stays as the migration set it)."""
    return _every_hour_rebuild(LayerRollup, _layers_rebuild)


def _every_hour_rebuild(
    rollup: type[RequestRollup] | type[LayerRollup],
    rebuild: Callable[[int, datetime, datetime, dict[str, Position]], None],
) -> int:
    """Rebuild with `rebuild` every (project, hour) that holds `rollup` hour rows and whose
    month's raw events are still kept, in the caller's transaction under the rollup lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY])
    hours = sorted(
        rollup.objects.filter(grain=Grain.HOUR).values_list("project_id", "bucket").distinct()
    )
    held = raw_months_held(months=sorted({month_start(hour) for _, hour in hours}))
    positions = folded_positions()
    kept = [(project_id, hour) for project_id, hour in hours if month_start(hour) in held]
    for project_id, hour in kept:
        rebuild(project_id, hour, hour + HOUR, positions)
    return len(kept)


def _requests_rebuild(
    project_id: int, start: datetime, end: datetime, positions: dict[str, Position]
) -> None:
    placed_here = list(
        RequestFact.objects.filter(
            project_id=project_id, first_seen__gte=start, first_seen__lt=end
        ).values_list("request_id", flat=True)
    )
    routing_rows, enforcement_rows = request_events(
        project_id=project_id,
        start=start,
        end=end,
        routing_upto=positions["routing"],
        enforcement_upto=positions["enforcement"],
        also=placed_here,
    )
    facts = request_facts_of(
        _frame(routing_rows, REQUEST_ROUTING_COLUMNS),
        _frame(enforcement_rows, ENFORCEMENT_COLUMNS),
    )
    touched = set(placed_here) | set(facts["request_id"])
    old = RequestFact.objects.filter(project_id=project_id, request_id__in=touched)
    hours = {start} | {_hour_of(moment) for moment in old.values_list("first_seen", flat=True)}
    old.delete()  # a request without any folded event left has no fact
    RequestFact.objects.bulk_create(_fact_models(facts))
    hours |= {_hour_of(moment) for moment in facts["first_seen"]}
    for hour in sorted(hours):
        _request_hour_rebuild(project_id, hour)


def _request_hour_rebuild(project_id: int, hour: datetime) -> None:
    """The request rollups of one hour (minutes, the hour, its day) from the request facts."""
    stored = pd.DataFrame(
        RequestFact.objects.filter(
            project_id=project_id, first_seen__gte=hour, first_seen__lt=hour + HOUR
        ).values(*FACT_COLUMNS),
        columns=list(FACT_COLUMNS),
    )
    if not stored.empty:
        stored["first_seen"] = pd.to_datetime(stored["first_seen"], utc=True)
    rows = request_contributions(stored)
    span = (project_id, pd.Timestamp(hour), pd.Timestamp(hour + HOUR))
    hour_rows_replace(REQUESTS, span, rows, weights=None if rows.empty else rows["sign"])


def _hour_of(moment: datetime | pd.Timestamp) -> datetime:
    moment = pd.Timestamp(moment).tz_convert("UTC").to_pydatetime()
    return moment.replace(minute=0, second=0, microsecond=0)


def _frame(rows: list[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def _fact_models(facts: pd.DataFrame) -> list[RequestFact]:
    models = []
    for row in facts.to_dict("records"):
        first_attempt_at, check_mode_at = row["first_attempt_at"], row["check_mode_at"]
        models.append(
            RequestFact(
                **{
                    **row,
                    "first_seen": pd.Timestamp(row["first_seen"]).to_pydatetime(),
                    "first_attempt_at": None
                    if pd.isna(first_attempt_at)
                    else pd.Timestamp(first_attempt_at).to_pydatetime(),
                    "model": row["model"] or "",
                    "mode": row["mode"] or "",
                    "check_mode": row["check_mode"] or "",
                    "check_mode_at": None
                    if pd.isna(check_mode_at)
                    else pd.Timestamp(check_mode_at).to_pydatetime(),
                }
            )
        )
    return models
