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

`rollups_rebuild` (analytics.rollups.rebuild) recomputes hours from raw events, each hour
under the rollup lock, as the rollup job would have made them, and resolves the mismatches it
repaired.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from analytics.models import (
    AttemptRollup,
    Grain,
    LayerRollup,
    RequestRollup,
    RollupMismatch,
    Watermark,
)
from ingestion.selectors import (
    Position,
    RawHourTotals,
    month_start,
    raw_hour_totals,
    raw_months_held,
)

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
    held = raw_months_held(months=sorted({month_start(hour) for _, hour in hours}))
    judged = sorted(key for key in hours if month_start(key[1]) in held)
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
        grouped: Iterable[Mapping[str, Any]] = rows.values("project_id", "bucket").annotate(
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
    with reconcile_lock():
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
        run.resolved = mismatches_resolve(
            mismatches_open_within(project_ids, start, end), keep=still_open, now=now, by="check"
        )
    return run


def mismatches_open_within(
    project_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> list[RollupMismatch]:
    """The open mismatches of these projects (None: all) and hours in `[start, end)` (None:
    unbounded), locked for update."""
    rows = RollupMismatch.objects.filter(resolved_at__isnull=True)
    if project_ids is not None:
        rows = rows.filter(project_id__in=project_ids)
    if start is not None:
        rows = rows.filter(hour__gte=start)
    if end is not None:
        rows = rows.filter(hour__lt=end)
    return list(rows.select_for_update())


def mismatches_resolve(
    mismatches: Iterable[RollupMismatch], *, keep: set[tuple[int, datetime]], now: datetime, by: str
) -> int:
    """Resolve (by "check" or "rebuild") those of these mismatches whose (project, hour) is not
    in `keep`; how many were still open."""
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


RECONCILE_LOCK_KEY = 0x7265636F  # "reco": one check or rebuild at a time


@contextmanager
def reconcile_lock() -> Iterator[None]:
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
