"""Monthly partitions: made ahead of need, dropped past the longest retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from governance.models import Project, RateLimitWindow
from governance.tasks import rate_windows_prune_task
from ingestion import partitions as partitions_module
from ingestion.partitions import (
    month_start,
    partition_missing,
    partition_name,
    partitions_drop_before,
    partitions_ensure,
    partitions_forget,
)
from ingestion.tasks import partitions_maintain
from tests.conftest import routing_event

pytestmark = pytest.mark.django_db

OLD = datetime(1990, 1, 1, tzinfo=UTC)  # no partition holds it


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


# --- A partition dropped under a process that remembers making it -------------------------


@pytest.fixture
def _forgets_partitions_afterwards() -> Iterator[None]:
    """The test drops months this process may remember: later tests look at the catalog."""
    yield
    partitions_forget()


def _maintained_by_another_process(project: Project, *, retention_days: int) -> list[str]:
    """Retention set and partitions_maintain run as the Celery worker would: in a process of
    its own, so what this (web) process remembers of the months it made stays as it was."""
    remembered = set(partitions_module._known_months)
    project.retention_days = retention_days
    project.save()
    dropped = partitions_maintain()["dropped"]
    partitions_module._known_months.update(remembered)
    return dropped


def _committed_copies(event_ids: list[str]) -> int:
    """Rows of these events seen from another session: only committed rows are."""
    with psycopg.connect(**connection.get_connection_params()) as other:
        [(count,)] = other.execute(
            "SELECT count(*) FROM ingestion_routingevent WHERE event_id = ANY(%s::uuid[])",
            [event_ids],
        ).fetchall()
    return count


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_forgets_partitions_afterwards")
def test_a_batch_into_a_month_dropped_and_kept_again_is_stored(project, post_batch):
    # The sequence: 89-day-old events, retention to 30 days and maintenance, then
    # retention back to 90 days. The partition is gone, but this process remembers making it.
    moment = timezone.now() - timedelta(days=89)
    project.retention_days = 90
    project.save()
    first = [routing_event(timestamp=moment.isoformat()) for _ in range(3)]
    assert post_batch(first).status_code == 200
    month = month_start(moment)
    dropped = _maintained_by_another_process(project, retention_days=30)
    assert partition_name("ingestion_routingevent", month) in dropped
    project.retention_days = 90
    project.save()

    second = [routing_event(timestamp=moment.isoformat()) for _ in range(4)]
    response = post_batch(second)

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 4
    assert _committed_copies([event["event_id"] for event in second]) == 4  # durable
    assert _committed_copies([event["event_id"] for event in first]) == 0  # dropped for real
    assert partition_name("ingestion_routingevent", month) in partitions()


def test_a_missing_partition_is_told_from_a_check_constraint():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (amount int CHECK (amount > 0))")
        with pytest.raises(IntegrityError) as check, transaction.atomic():
            cursor.execute("INSERT INTO probe VALUES (-1)")
        with pytest.raises(IntegrityError) as missing, transaction.atomic():
            cursor.execute('INSERT INTO ingestion_routingevent ("timestamp") VALUES (%s)', [OLD])
    assert isinstance(check.value.__cause__, psycopg.errors.CheckViolation)
    assert not partition_missing(check.value)
    assert partition_missing(missing.value)
    cause = missing.value.__cause__  # psycopg's own, as the writer sees it
    assert cause is not None and partition_missing(cause)
