"""Reconciliation: the rollups are checked against the raw events they were made of, so that
a lost event can never again go unnoticed, and the hours found wrong can be rebuilt.

What is compared, per project and hour (the hour grain of the rollups):
- attempts, input and output tokens and cost (reported, else priced) of the attempt rollups,
  against the routing events of that hour;
- checks of the layer rollups against the enforcement events of that hour;
- requests of the request rollups against the distinct requests whose earliest event (of
  either stream) lies in that hour.

Only events the rollup job has folded in take part: those at or before its watermark of their
stream in ingest order. The watermark is a position, not a time (an event may arrive days
after its timestamp), so "below the watermark" is judged per event: a late event that the job
has not reached yet is in neither side, and one it has folded is in both. The watermarks, the
raw events and the rollups are read in one snapshot (the job moves a watermark in the same
transaction as the rollups it folded), so a check never races the job. Hours of months whose
raw partitions retention has dropped are not judged (their rollups outlive them on purpose;
a request whose first event went with such a month counts in the next hour on the raw side
only, a false alarm that a rebuild of that hour settles). A full check reads every retained
raw event once: about 5 s for 3 million events on the 2-core reference machine.

A differing hour is recorded as a `RollupMismatch` (shown in the admin and by
`manage.py rollups_check`); a later check that finds it whole resolves it. The alert is an
ordinary rule of kind `rollup_mismatch` (governance.AlertKind): its measured value is the
number of the project's open mismatches, its threshold defaults to 0, so it fires at the
first one and resolves (through the usual lifecycle and outbox) once none is left open.

`rollups_rebuild` recomputes hours from raw events, each hour under the rollup lock, as the
rollup job would have made them, and resolves the mismatches it repaired.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from analytics.models import (
    AttemptRollup,
    Grain,
    LayerRollup,
    RequestFact,
    RequestRollup,
    RollupMismatch,
    Watermark,
)
from analytics.repricing.job import hour_attempts_rebuild, hour_events
from analytics.rollups.families import LAYERS, REQUESTS, hour_rows_replace
from analytics.rollups.job import (
    FACT_COLUMNS,
    ROLLUP_LOCK_KEY,
    layer_event_rows,
    request_contributions,
    request_facts_of,
)
from governance.models import Project
from ingestion.selectors import (
    ENFORCEMENT_COLUMNS,
    REQUEST_ROUTING_COLUMNS,
    Position,
    RawHourTotals,
    enforcement_events_in,
    raw_hour_totals,
    raw_months_held,
    request_events,
)

HOUR = timedelta(hours=1)
FIGURES = ("attempts", "input_tokens", "output_tokens", "cost_usd", "checks", "requests")
FigureValue = int | Decimal


@dataclass(frozen=True)
class HourDifference:
    """One project's hour whose rollups differ from its raw events: (raw, rollup) of each
    figure that differs."""

    project_id: int
    hour: datetime
    figures: dict[str, tuple[FigureValue, FigureValue]]

    def figures_json(self) -> dict[str, dict[str, str]]:
        return {
            name: {"raw": str(raw), "rollup": str(rollup)}
            for name, (raw, rollup) in self.figures.items()
        }


@dataclass
class ReconcileRun:
    """What one reconciliation found and recorded."""

    hours_checked: int = 0
    differences: list[HourDifference] = field(default_factory=list)
    opened: int = 0
    resolved: int = 0


# --- Comparing ---------------------------------------------------------------------------


def folded_positions() -> dict[str, Position]:
    """How far the rollup job has folded each stream ((0, 0) before its first run)."""
    marks = {mark.stream: (mark.xid, mark.seq) for mark in Watermark.objects.all()}
    return {stream: marks.get(stream, (0, 0)) for stream in ("routing", "enforcement")}


def rollups_compare(
    *,
    project_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[int, list[HourDifference]]:
    """The hours in `[start, end)` (None: unbounded) of these projects (None: all) whose hour
    rollups differ from the raw events folded into them; with the number of hours judged.

    Outside a transaction the reads share one repeatable-read snapshot; inside one (a
    rebuild, a test) they see what that transaction sees.
    """
    if connection.in_atomic_block:
        return _compare(project_ids, start, end)
    with transaction.atomic():
        with connection.cursor() as cursor:  # the transaction's first statement
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _compare(project_ids, start, end)


def _compare(
    project_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> tuple[int, list[HourDifference]]:
    positions = folded_positions()
    raw = {
        (totals.project_id, totals.hour): _raw_figures(totals)
        for totals in raw_hour_totals(
            routing_upto=positions["routing"],
            enforcement_upto=positions["enforcement"],
            project_ids=project_ids,
            start=start,
            end=end,
        )
    }
    rolled = _rollup_figures(project_ids, start, end)
    hours = set(raw) | set(rolled)
    held = raw_months_held(months=sorted({_month(hour) for _, hour in hours}))
    judged = sorted(key for key in hours if _month(key[1]) in held)
    zero = dict.fromkeys(FIGURES, 0)
    differences = []
    for project_id, hour in judged:
        raw_figures = raw.get((project_id, hour), zero)
        rollup_figures = rolled.get((project_id, hour), zero)
        differing = {
            name: (raw_figures[name], rollup_figures[name])
            for name in FIGURES
            if raw_figures[name] != rollup_figures[name]
        }
        if differing:
            differences.append(HourDifference(project_id, hour, differing))
    return len(judged), differences


def _month(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def _raw_figures(totals: RawHourTotals) -> dict[str, FigureValue]:
    return {name: getattr(totals, name) for name in FIGURES}


def _rollup_figures(
    project_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> dict[tuple[int, datetime], dict[str, FigureValue]]:
    """Per project and hour, the figures the hour rollups hold."""
    figures: dict[tuple[int, datetime], dict[str, FigureValue]] = {}
    sums = (
        (AttemptRollup, ("attempts", "input_tokens", "output_tokens", "cost_usd")),
        (LayerRollup, ("checks",)),
        (RequestRollup, ("requests",)),
    )
    for model, names in sums:
        rows = model.objects.filter(grain=Grain.HOUR)
        if project_ids is not None:
            rows = rows.filter(project_id__in=project_ids)
        if start is not None:
            rows = rows.filter(bucket__gte=start)
        if end is not None:
            rows = rows.filter(bucket__lt=end)
        grouped = rows.values("project_id", "bucket").annotate(
            **{name: Sum(name) for name in names}
        )
        for row in grouped:
            key = (row["project_id"], row["bucket"])
            hour = figures.setdefault(key, dict.fromkeys(FIGURES, 0))
            hour.update({name: row[name] for name in names})
    return figures


# --- Recording ---------------------------------------------------------------------------


def rollups_reconcile(
    *,
    project_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> ReconcileRun:
    """Compare (see `rollups_compare`), then record: an open mismatch per differing hour
    (updated when it was open already), and every open mismatch of the checked projects and
    span that no longer differs resolved."""
    now = now or timezone.now()
    with _reconcile_lock():
        return _reconcile(project_ids, start, end, now)


def _reconcile(
    project_ids: Sequence[int] | None, start: datetime | None, end: datetime | None, now: datetime
) -> ReconcileRun:
    judged, differences = rollups_compare(project_ids=project_ids, start=start, end=end)
    run = ReconcileRun(hours_checked=judged, differences=differences)
    with transaction.atomic():
        for difference in differences:
            _, created = RollupMismatch.objects.update_or_create(
                project_id=difference.project_id,
                hour=difference.hour,
                resolved_at=None,
                defaults={"figures": difference.figures_json(), "last_seen_at": now},
                create_defaults={
                    "figures": difference.figures_json(),
                    "first_seen_at": now,
                    "last_seen_at": now,
                },
            )
            run.opened += created
        still_open = {(difference.project_id, difference.hour) for difference in differences}
        run.resolved = _resolve(
            _open_within(project_ids, start, end), keep=still_open, now=now, by="check"
        )
    return run


def _open_within(
    project_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> list[RollupMismatch]:
    rows = RollupMismatch.objects.filter(resolved_at__isnull=True)
    if project_ids is not None:
        rows = rows.filter(project_id__in=project_ids)
    if start is not None:
        rows = rows.filter(hour__gte=start)
    if end is not None:
        rows = rows.filter(hour__lt=end)
    return list(rows.select_for_update())


def _resolve(
    mismatches: Iterable[RollupMismatch], *, keep: set[tuple[int, datetime]], now: datetime, by: str
) -> int:
    resolved = [m.pk for m in mismatches if (m.project_id, m.hour) not in keep]
    return RollupMismatch.objects.filter(pk__in=resolved, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=by
    )


def mismatches_open(*, project_id: int) -> list[RollupMismatch]:
    """The project's open mismatches, oldest hour first."""
    return list(
        RollupMismatch.objects.filter(project_id=project_id, resolved_at__isnull=True).order_by(
            "hour"
        )
    )


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
    hours = []
    while first + len(hours) * HOUR < end:
        hours.append(first + len(hours) * HOUR)
    # Hours of months whose raw events retention dropped keep their rollups on purpose:
    # rebuilt from nothing, they would be emptied.
    held = raw_months_held(months=sorted({_month(hour) for hour in hours}))
    with _reconcile_lock():
        for hour in hours:
            if _month(hour) not in held:
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
            run.resolved = _resolve(
                _open_within([project.pk], first, end), keep=keep, now=now, by="rebuild"
            )
        run.still_differing = differences
    return run


RECONCILE_LOCK_KEY = 0x7265636F  # "reco": one check or rebuild at a time


@contextmanager
def _reconcile_lock() -> Iterator[None]:
    """Hold the reconciliation's session lock: a check recording what it compared before a
    rebuild committed would reopen the hour just repaired, and an older check would resolve
    a newer one's finding. Waits for the one under way."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [RECONCILE_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RECONCILE_LOCK_KEY])


def hour_rebuild(*, project_id: int, start: datetime, end: datetime) -> None:
    """Make one hour's attempt, layer and request rollups (minute, hour and the day that holds
    them) what the raw events the rollup job has folded in make; the caller's transaction
    holds the rollup lock.

    Requests: the facts of every request with an event in the hour (or placed in it) are
    computed again from all of their folded events, and the request rollups of every hour a
    changed fact leaves or enters are rebuilt from the facts.
    """
    positions = folded_positions()
    span = (project_id, pd.Timestamp(start), pd.Timestamp(end))

    attempts = hour_events(project_id=project_id, start=start, end=end)
    attempts["cost_units"] = (
        attempts["reported_units"].astype("Int64").fillna(attempts["priced_units"].astype("Int64"))
    )
    hour_attempts_rebuild(project_id=project_id, start=start, end=end, events=attempts)

    checks = _frame(
        enforcement_events_in(
            project_id=project_id, start=start, end=end, upto=positions["enforcement"]
        ),
        ENFORCEMENT_COLUMNS,
    )
    hour_rows_replace(LAYERS, span, layer_event_rows(checks))

    _requests_rebuild(project_id, start, end, positions)


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


def _frame(rows: list[tuple], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def _fact_models(facts: pd.DataFrame) -> list[RequestFact]:
    models = []
    for row in facts.to_dict("records"):
        first_attempt_at = row["first_attempt_at"]
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
                }
            )
        )
    return models
