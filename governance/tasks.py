"""Background upkeep of governance data."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from governance.services import rate_windows_prune, signin_records_prune


@shared_task(
    name="governance.rate_windows_prune", time_limit=120, soft_time_limit=100, acks_late=True
)
def rate_windows_prune_task() -> int:
    """Delete per-minute rate counters older than an hour, and stale sign-in records."""
    now = timezone.now()
    return rate_windows_prune(now=now) + signin_records_prune(now=now)
