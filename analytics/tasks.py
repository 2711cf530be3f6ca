"""Celery tasks of the analytics app: thin wrappers with stable names."""

from __future__ import annotations

import time

from celery import shared_task
from django.db.utils import InterfaceError, OperationalError

from analytics import services

ROLLUP_BUDGET_S = 50.0  # under the beat period, so runs rarely queue behind each other
# Every task here is idempotent: acknowledged late, retried with backoff only when the
# database is away (a transient error), never on a bug.
RETRIED_ON_DATABASE_ERRORS = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 60,
    "retry_jitter": True,
}


@shared_task(
    name="analytics.rollup_advance",
    time_limit=180,
    soft_time_limit=150,
    **RETRIED_ON_DATABASE_ERRORS,
    max_retries=5,
)
def rollup_advance() -> dict[str, object]:
    """Fold new events into the rollups, then spend what is left of the run's budget on
    repricing jobs; a run that finds the lock taken does nothing."""
    started = time.monotonic()
    run = services.rollups_advance(max_seconds=ROLLUP_BUDGET_S)
    repriced = services.RepricingRun()
    if not run.skipped_locked:
        left = ROLLUP_BUDGET_S - (time.monotonic() - started)
        repriced = services.repricings_advance(max_seconds=max(left, 0.0))
    return {
        "events": run.events,
        "chunks": run.chunks,
        "skipped_locked": run.skipped_locked,
        "repriced_hours": repriced.hours,
        "repricings_finished": repriced.finished,
        "repricings_failed": repriced.failed,
    }


@shared_task(
    name="analytics.alerts_evaluate",
    time_limit=120,
    soft_time_limit=100,
    **RETRIED_ON_DATABASE_ERRORS,
    max_retries=3,
)
def alerts_evaluate() -> dict[str, object]:
    """Judge every rule and budget; queued mail goes out right after."""
    run = services.alerts_evaluate()
    if run.notifications:
        notifications_send.delay()
    return {
        "evaluated": run.evaluated,
        "transitions": run.transitions,
        "notifications": run.notifications,
        "skipped_locked": run.skipped_locked,
    }


@shared_task(
    name="analytics.notifications_send",
    time_limit=300,
    soft_time_limit=270,
    **RETRIED_ON_DATABASE_ERRORS,
    max_retries=3,
)
def notifications_send() -> dict[str, int]:
    """Send due outbox rows; SMTP failures are rescheduled row by row (or marked failed once
    their attempts are used up), not retried here."""
    run = services.notifications_send()
    return {"sent": run.sent, "failed": run.failed, "gave_up": run.gave_up}


@shared_task(
    name="analytics.finance_digest",
    time_limit=600,
    soft_time_limit=540,
    **RETRIED_ON_DATABASE_ERRORS,
    max_retries=3,
)
def finance_digest() -> dict[str, object]:
    """Queue yesterday's finance digest for every organization; the mail goes out right after."""
    run = services.finance_digest_send()
    if run.queued:
        notifications_send.delay()
    return {
        "day": run.day.isoformat(),
        "organizations": run.organizations,
        "queued": run.queued,
        "skipped_no_recipients": run.skipped_no_recipients,
        "skipped_locked": run.skipped_locked,
    }


@shared_task(
    name="analytics.rollups_reconcile",
    time_limit=900,
    soft_time_limit=840,
    **RETRIED_ON_DATABASE_ERRORS,
    max_retries=3,
)
def rollups_reconcile() -> dict[str, object]:
    """Compare every project's hour rollups with the raw events folded into them; record the
    hours that differ (the `rollup_mismatch` rules alert on them) and resolve those that no
    longer do. Reads only, besides the records: safe to run at any time, twice too."""
    run = services.rollups_reconcile()
    return {
        "hours_checked": run.hours_checked,
        "differing": len(run.differences),
        "opened": run.opened,
        "resolved": run.resolved,
    }
