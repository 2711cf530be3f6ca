"""Monthly partitions: made ahead of need, dropped past the longest retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from governance.models import RateLimitWindow
from governance.tasks import rate_windows_prune_task
from ingestion.partitions import partition_name, partitions_drop_before, partitions_ensure
from ingestion.tasks import partitions_maintain

pytestmark = pytest.mark.django_db


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'ingestion_routingevent'"
        )
        return {name for (name,) in cursor.fetchall()}


def test_maintain_creates_this_and_next_month():
    partitions_maintain()
    now = datetime.now(UTC)
    this_month = date(now.year, now.month, 1)
    next_month = date(now.year + now.month // 12, now.month % 12 + 1, 1)
    assert {
        partition_name("ingestion_routingevent", this_month),
        partition_name("ingestion_routingevent", next_month),
    } <= partitions()


def test_drop_removes_only_months_wholly_before_the_cutoff():
    partitions_ensure({date(2020, 1, 1), date(2020, 2, 1), date(2020, 3, 1)})
    dropped = partitions_drop_before(datetime(2020, 2, 15, tzinfo=UTC))
    assert "ingestion_routingevent_y2020m01" in dropped
    assert "ingestion_enforcementevent_y2020m01" in dropped
    remaining = partitions()
    assert "ingestion_routingevent_y2020m01" not in remaining
    assert {"ingestion_routingevent_y2020m02", "ingestion_routingevent_y2020m03"} <= remaining


def test_rate_windows_older_than_an_hour_are_pruned(ingest_key):
    from governance.models import ApiKey

    api_key = ApiKey.objects.get(prefix=ingest_key[3:11])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    RateLimitWindow.objects.create(api_key=api_key, window_start=now - timedelta(hours=2), count=5)
    RateLimitWindow.objects.create(api_key=api_key, window_start=now, count=1)
    assert rate_windows_prune_task() == 1
    assert list(RateLimitWindow.objects.values_list("count", flat=True)) == [1]


def test_task_names_are_stable():
    assert partitions_maintain.name == "ingestion.partitions_maintain"
    assert rate_windows_prune_task.name == "governance.rate_windows_prune"
