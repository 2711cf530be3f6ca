"""Background upkeep of governance data."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from governance.services import rate_windows_prune


@shared_task(
    name="governance.rate_windows_prune", time_limit=120, soft_time_limit=100, acks_late=True
)
def rate_windows_prune_task() -> int:
    """Delete per-minute rate counters older than an hour."""
    return rate_windows_prune(now=timezone.now())
