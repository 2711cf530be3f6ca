"""The demo's replayed alert evaluation sends the mail it queues: a newcomer opening an
alert right after `make demo` is up finds its deliveries sent (in `.data/mail`), not pending
with a due time in the past while Celery beat has yet to run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from analytics.models import Alert, AlertState, Notification, NotificationState
from analytics.rollups.job import rollups_advance
from governance.models import AlertRule
from tests.conftest import routing_event
from tollgate.demo.alerts import alerts_replay
from tollgate.demo.simulation import minute_floor

pytestmark = pytest.mark.django_db(transaction=True)


def test_replayed_alerts_mail_is_sent_when_the_replay_ends(post_batch, project):
    now = minute_floor(timezone.now())
    AlertRule.objects.create(
        project=project,
        name="model failure",
        kind="model_failure",
        threshold=0.5,
        window_minutes=10,
        for_minutes=0,
        min_requests=5,
        recipients=["ops@example.com"],
    )
    failed_at = (now - timedelta(minutes=62)).isoformat()
    failures = [
        routing_event(request_id=f"r-{i}", timestamp=failed_at, model="gpt-5.4", status="error")
        for i in range(10)
    ]
    assert post_batch(failures).json()["rejected"] == 0
    rollups_advance(max_seconds=float("inf"))

    replay = alerts_replay(start=now - timedelta(hours=1), end=now, step=timedelta(minutes=5))

    alert = Alert.objects.get(scope="model:gpt-5.4")
    assert alert.firing_since is not None and alert.firing_since < now
    assert alert.state == AlertState.RESOLVED  # its traffic stopped in the replayed hour
    deliveries = Notification.objects.filter(alert=alert)
    assert replay.notifications == deliveries.count() >= 1
    assert set(deliveries.values_list("state", flat=True)) == {NotificationState.SENT}
    assert sorted(message.subject for message in mail.outbox) == sorted(
        deliveries.values_list("subject", flat=True)
    )
    assert replay.sent == deliveries.count()  # what the demo prints
