"""Repricing: when a price is corrected or back-dated, the events it covers take the new price.

A `Repricing` job covers one project's span of time. The rollup task walks it an hour at a time
once it has caught up with new events; each hour is one transaction that holds the rollup lock
(so the rollup job never sees half of it, nor waits longer than an hour's work). The hour
prices every routing event with the matrix as it is now, writes the priced cost of those
whose price changed, and rebuilds the hour's attempt rollups from the raw events the
rollup job has already folded in (those past the watermark are still to come, and will be read
with their new price). Reported costs stay as reported: they win over the priced cost in every
figure, before and after. Request and layer rollups hold no money, so they are left alone.

Pricing every event of the span, not only the changed model's, keeps one code path for every
kind of change (a corrected price, a back-dated one, a deleted one, a new baseline model): an
event whose price did not change is recomputed to the same figure and left untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from analytics.models import Repricing, RepricingState, Watermark
from analytics.rollups.families import ATTEMPTS, hour_rows_replace
from analytics.rollups.job import ROLLUP_LOCK_KEY
from analytics.rollups.rows import attempt_event_rows, calls_of
from governance.pricing import calls_price
from governance.selectors import price_book_for_project
from ingestion.selectors import first_routing_event_at, routing_events_priced
from ingestion.services import routing_prices_set
from tollgate.db.sql import frame_query

HOUR = timedelta(hours=1)
# Ingest and price changes share a lock (governance.services.prices_lock), which holds until a
# change commits only when it is made inside a transaction; for one made outside (a shell),
# a job waits this long so that a batch priced just before it has committed when it reads.
START_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class HourRepriced:
    events: int  # routing events in the hour
    repriced: int  # of which the priced cost (or the price row) changed


def repricing_request(
    *, project_id: int, since: datetime | None, until: datetime | None, reason: str
) -> Repricing:
    """Queue a job for the span; `since` None means from the first event, `until` None up
    to now. The rollup task picks it up once it has caught up with new events."""
    return Repricing.objects.create(
        project_id=project_id, since=since, until=until, reason=reason[:300]
    )


@dataclass
class RepricingRun:
    """What one call of `repricings_advance` did."""

    hours: int = 0
    finished: int = 0
    failed: int = 0


def repricings_advance(*, max_seconds: float, now: datetime | None = None) -> RepricingRun:
    """Work on unfinished jobs, an hour of events at a time and oldest job first, for about
    `max_seconds` or until none is left (or another worker holds the rollup lock)."""
    run = RepricingRun()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        outcome = repricing_step(now=now)
        if outcome is None:
            break
        run.hours += outcome == RepricingState.RUNNING
        run.finished += outcome == RepricingState.DONE
        run.failed += outcome == RepricingState.FAILED
    return run


def repricing_step(*, now: datetime | None = None) -> str | None:
    """One step of the oldest due job, in one transaction under the rollup lock: start it,
    reprice its next hour, or finish it. Returns the job's state after the step, or None when
    there is nothing to do or the rollup job holds the lock (it comes first: new events must
    reach the dashboard within a minute, whatever is being repriced).

    A job whose step fails on anything but a lost database is marked failed with the error,
    so the others go on and nobody retries a bug forever.
    """
    now = now or timezone.now()
    job_id = None
    try:
        with transaction.atomic():
            if not _rollup_lock_try():
                return None
            job = (
                Repricing.objects.select_for_update(skip_locked=True)
                .filter(
                    Q(state=RepricingState.RUNNING)
                    | Q(state=RepricingState.QUEUED, created_at__lte=now - START_GRACE)
                )
                .order_by("created_at")
                .first()
            )
            if job is None:
                return None
            job_id = job.pk
            return _job_step(job, now=now)
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:
        if job_id is None:
            raise
        Repricing.objects.filter(pk=job_id).update(
            state=RepricingState.FAILED, last_error=repr(error)[:500], finished_at=timezone.now()
        )
        return RepricingState.FAILED


def _rollup_lock_try() -> bool:
    frame = frame_query("SELECT pg_try_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY], ["taken"])
    return bool(frame["taken"].iloc[0])


def _job_step(job: Repricing, *, now: datetime) -> str:
    if job.state == RepricingState.QUEUED:
        _job_start(job, now=now)
    done_until, until = _span_left(job)
    if done_until >= until:
        job.state = RepricingState.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "finished_at"])
        return job.state
    hour_end = min(done_until + HOUR, until)
    result = hour_reprice(project_id=job.project_id, start=done_until, end=hour_end)
    job.done_until = hour_end
    job.hours_done += 1
    job.events_repriced += result.repriced
    job.save(update_fields=["done_until", "hours_done", "events_repriced"])
    return job.state


def _span_left(job: Repricing) -> tuple[datetime, datetime]:
    """How far a started job has got and where it ends (`_job_start` fixed both)."""
    if job.done_until is None or job.until is None:
        raise ValueError(f"repricing {job.pk} was started without a span")
    return job.done_until, job.until


def _job_start(job: Repricing, *, now: datetime) -> None:
    """Fix the job's span to whole hours: from its start (or the project's first event) to its
    end (or the latest moment an event may carry: now plus the allowed clock skew)."""
    since = job.since or first_routing_event_at(project_id=job.project_id) or now
    until = job.until or now + timedelta(seconds=settings.TOLLGATE_INGEST_FUTURE_SKEW_S)
    start = since.replace(minute=0, second=0, microsecond=0)
    end = until.replace(minute=0, second=0, microsecond=0)
    end += HOUR if end < until else timedelta(0)
    job.since, job.until, job.done_until = start, max(end, start), start
    job.hours_total = int((job.until - start) / HOUR)
    job.state = RepricingState.RUNNING
    job.started_at = now
    job.save()


def hour_reprice(*, project_id: int, start: datetime, end: datetime) -> HourRepriced:
    """Reprice one project's routing events in `[start, end)` (at most an hour) and rebuild
    that span's attempt rollups. Runs inside the caller's transaction, which holds the rollup
    lock."""
    events = routing_events_priced(project_id=project_id, start=start, end=end)
    if events.empty:
        return HourRepriced(events=0, repriced=0)
    priced_units, price_ids = _prices_now(project_id, events)
    changed = _differs(events["priced_units"], priced_units) | _differs(
        events["price_id"], price_ids
    )
    _priced_costs_write(project_id, events[changed], priced_units[changed], price_ids[changed])

    events["cost_units"] = events["reported_units"].astype("Int64").fillna(priced_units)
    hour_attempts_rebuild(project_id=project_id, start=start, end=end, events=events)
    return HourRepriced(events=len(events), repriced=int(changed.sum()))


def hour_attempts_rebuild(
    *, project_id: int, start: datetime, end: datetime, events: pd.DataFrame
) -> None:
    """Make the attempt rollups of the hour `[start, end)` what those of `events` (the
    hour's routing events, with `cost_units` set) that the rollup job has folded in add up
    to: the minute and hour rows from the events, in the job's order, then the day that holds
    them. Runs inside the caller's transaction, which holds the rollup lock."""
    folded = events[_folded_in(events)].sort_values(["xid", "seq"], ignore_index=True)
    span = (project_id, pd.Timestamp(start), pd.Timestamp(end))
    rows = attempt_event_rows(folded) if not folded.empty else folded
    hour_rows_replace(ATTEMPTS, span, rows)


def _prices_now(project_id: int, events: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each event's priced cost (1e-8 USD) and price row under the matrix as it is now; NA
    where its model has no price at its time."""
    units = pd.Series(pd.NA, index=events.index, dtype="Int64")
    price_ids = pd.Series(pd.NA, index=events.index, dtype="Int64")
    book = price_book_for_project(project_id=project_id)
    for model, rows in events.groupby("model"):
        entry = book.entry(str(model))
        if entry is None:
            continue
        priced = calls_price(entry, **calls_of(rows))
        with_price = rows.index[priced.has_price]
        units.loc[with_price] = priced.units[priced.has_price]
        price_ids.loc[with_price] = priced.price_ids[priced.has_price]
    return units, price_ids


def _differs(stored: pd.Series, computed: pd.Series) -> pd.Series:
    """Element-wise "not the same value", where two NAs are the same."""
    stored = stored.astype("Int64")
    return ((stored != computed) | (stored.isna() != computed.isna())).fillna(True).astype(bool)


def _priced_costs_write(
    project_id: int, events: pd.DataFrame, units: pd.Series, price_ids: pd.Series
) -> None:
    """Set `priced_cost_usd` and `price_id` of these events (ingestion owns the raw rows)."""
    if events.empty:
        return
    routing_prices_set(
        project_id=project_id,
        prices=zip(
            events["event_id"].tolist(),
            [moment.to_pydatetime() for moment in events["timestamp"]],
            [None if pd.isna(value) else int(value) for value in units],
            [None if pd.isna(value) else int(value) for value in price_ids],
            strict=True,
        ),
    )


def _folded_in(events: pd.DataFrame) -> np.ndarray:
    """Which events the rollup job has already added to the rollups (at or before its
    routing watermark in ingest order)."""
    mark = Watermark.objects.filter(stream="routing").values_list("xid", "seq").first()
    if mark is None:
        return np.zeros(len(events), dtype=bool)
    xid, seq = mark
    xids, seqs = events["xid"].to_numpy(), events["seq"].to_numpy()
    return (xids < xid) | ((xids == xid) & (seqs <= seq))
