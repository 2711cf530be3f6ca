"""Background upkeep of the raw tables."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db.models import Max
from django.utils import timezone

from governance.models import Project
from ingestion.partitions import month_start, partitions_drop_before, partitions_ensure

DEFAULT_RETENTION_DAYS = Project._meta.get_field("retention_days").default


@shared_task(
    name="ingestion.partitions_maintain", time_limit=300, soft_time_limit=240, acks_late=True
)
def partitions_maintain() -> dict[str, list[str]]:
    """Create this and next month's partitions ahead of need; drop those past every retention."""
    now = timezone.now()
    partitions_ensure({month_start(now), month_start(now + timedelta(days=32))})
    longest = (
        Project.objects.aggregate(days=Max("retention_days"))["days"] or DEFAULT_RETENTION_DAYS
    )
    return {"dropped": partitions_drop_before(now - timedelta(days=longest))}
