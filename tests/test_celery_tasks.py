"""The Celery task names are an interface (beat schedules and queued messages name them):
pinned here, and the beat schedule may name registered tasks only."""

from __future__ import annotations

import pytest
from django.conf import settings

from analytics.tasks import (
    alerts_evaluate,
    finance_digest,
    notifications_send,
    rollup_advance,
    rollups_reconcile,
)
from governance.tasks import rate_windows_prune_task
from ingestion.tasks import partitions_maintain
from tollgate import celery_app

PINNED = {
    "analytics.rollup_advance": rollup_advance,
    "analytics.alerts_evaluate": alerts_evaluate,
    "analytics.notifications_send": notifications_send,
    "analytics.finance_digest": finance_digest,
    "analytics.rollups_reconcile": rollups_reconcile,
    "ingestion.partitions_maintain": partitions_maintain,
    "governance.rate_windows_prune": rate_windows_prune_task,
}


@pytest.fixture(scope="module")
def registered() -> set[str]:
    celery_app.loader.import_default_modules()  # autodiscovery, as a worker does it
    return set(celery_app.tasks)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_task_is_registered_under_its_pinned_name(registered, name):
    assert name in registered
    assert celery_app.tasks[name].name == PINNED[name].name == name


def test_beat_schedule_names_registered_tasks_only(registered):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= registered, scheduled - registered
    assert "analytics.rollup_advance" in scheduled
    assert "analytics.rollups_reconcile" in scheduled
