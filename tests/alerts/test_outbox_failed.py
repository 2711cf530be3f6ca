"""Failed outbox rows outside the sender: the default cap spans about a day of retries; the
admin filters rows by state and shows their last error; "Send again" (change_notification)
queues them anew only within the user's organization, logged in the row's history; /metrics
counts them per organization; migration 0007 keeps every existing row's state."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from analytics.delivery import outbox as notifications
from analytics.delivery.outbox import notifications_send
from analytics.models import Notification, NotificationState
from governance.services import organization_create, user_create

CHANGELIST = "/admin/analytics/notification/"


def test_the_default_attempts_span_half_a_day_to_a_day(settings, monkeypatch):
    """The waits between the default 20 sends, at the jitter's low and high ends."""
    assert settings.TOLLGATE_OUTBOX_MAX_ATTEMPTS == 20

    def span(end: int) -> timedelta:
        monkeypatch.setattr(notifications.random, "uniform", lambda low, high: (low, high)[end])
        return sum(
            (notifications.backoff(attempts) for attempts in range(1, 20)), start=timedelta()
        )

    assert timedelta(hours=12) < span(0) < span(1) < timedelta(hours=24, minutes=30)


def _row(organization, subject: str, state: str, **fields) -> Notification:
    now = timezone.now()
    return Notification.objects.create(
        organization=organization,
        dedup_key=f"test:{subject}",
        recipient="ops@example.com",
        subject=subject,
        body_text="plain",
        body_html="<p>html</p>",
        state=state,
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


@pytest.fixture
def outbox(organization):
    """Acme's rows in each state, and a failed row of another organization."""
    globex = organization_create(name="globex")
    return {
        "failed": _row(
            organization, "acme-failed", "failed", attempts=20, last_error="SMTPDataError: 451"
        ),
        "pending": _row(organization, "acme-pending", "pending", attempts=4),
        "sent": _row(organization, "acme-sent", "sent", attempts=1, sent_at=timezone.now()),
        "globex": _row(globex, "globex-failed", "failed", attempts=20, last_error="refused"),
    }


def _staff(organization, username: str, *codenames: str, role: str = "admin") -> User:
    """A staff member of the organization, granted these analytics permissions besides its
    role's (the admin role has view and change of notifications already)."""
    user = user_create(
        organization=organization, username=username, role=role, password="pw-123-long"
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def org_admin(organization):
    return _staff(organization, "ada", "view_notification", "change_notification")


def _send_again(client: Client, *rows: Notification):
    return client.post(
        CHANGELIST,
        {"action": "send_again", "_selected_action": [row.pk for row in rows], "index": 0},
        follow=True,
    )


@pytest.mark.django_db
def test_the_state_filter_lists_failed_rows_with_their_last_error(client, outbox, org_admin):
    client.force_login(org_admin)
    page = client.get(CHANGELIST, {"state__exact": "failed"}).content.decode()
    assert "acme-failed" in page and "SMTPDataError: 451" in page
    assert "acme-pending" not in page and "acme-sent" not in page
    assert "globex-failed" not in page  # another organization's row
    assert 'href="?state__exact=failed"' in page  # the filter offers the new state
    pending = client.get(CHANGELIST, {"state__exact": "pending"}).content.decode()
    assert "acme-pending" in pending and "acme-failed" not in pending


@pytest.mark.django_db
def test_an_org_admin_sends_again_only_their_organizations_failed_and_pending_rows(
    client, outbox, org_admin
):
    client.force_login(org_admin)
    response = _send_again(client, *outbox.values())  # the other tenant's id slipped in too
    assert response.status_code == 200
    states = {row.subject: (row.state, row.attempts) for row in Notification.objects.all()}
    assert states == {
        "acme-failed": ("pending", 0),
        "acme-pending": ("pending", 0),
        "acme-sent": ("sent", 1),  # delivered already: never sent twice
        "globex-failed": ("failed", 20),  # another organization's: untouched
    }
    assert not Notification.objects.filter(pk=outbox["failed"].pk, failed_at__isnull=False)
    logged = LogEntry.objects.filter(user=org_admin, action_flag=CHANGE)
    assert sorted(str(entry.object_id) for entry in logged) == sorted(
        [str(outbox["failed"].pk), str(outbox["pending"].pk)]
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "2 notification(s) queued for the next send; 1 left alone (sent or being sent)."
    ]


@pytest.mark.django_db
def test_viewing_the_outbox_does_not_allow_sending_again(client, outbox, organization):
    viewer = _staff(organization, "vic", "view_notification", role="ops")  # staff made by hand
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200 and "acme-failed" in page.content.decode()
    assert "send_again" not in page.content.decode()
    _send_again(client, outbox["failed"])
    assert Notification.objects.get(pk=outbox["failed"].pk).state == "failed"
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_a_superuser_sends_again_across_organizations(client, outbox):
    root = User.objects.create_superuser("root", "root@example.com", "pw-123-long")
    client.force_login(root)
    _send_again(client, outbox["globex"])
    assert Notification.objects.get(pk=outbox["globex"].pk).state == "pending"


@pytest.mark.django_db
def test_a_failed_row_sent_again_goes_out_on_the_next_run(client, outbox, org_admin, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    client.force_login(org_admin)
    assert notifications_send().sent == 1  # only the pending row: failed ones wait
    _send_again(client, outbox["failed"])
    assert notifications_send().sent == 1
    assert [message.subject for message in mail.outbox] == ["acme-pending", "acme-failed"]
    assert notifications_send(now=timezone.now() + timedelta(days=1)).sent == 0


@pytest.mark.django_db
def test_metrics_count_failed_emails_per_organization(client, settings, outbox, organization):
    settings.TOLLGATE_METRICS_TOKEN = ""
    settings.TOLLGATE_METRICS_LOOPBACK = True
    _row(organization, "acme-failed-2", "failed", attempts=20)

    def failed_by_organization() -> dict[str, float]:
        text = client.get("/metrics").content.decode()
        assert "# TYPE tollgate_notifications_failed gauge" in text
        found = re.findall(
            r'^tollgate_notifications_failed\{organization="(\w+)"\} (\S+)$', text, re.M
        )
        return {name: float(value) for name, value in found}

    assert failed_by_organization() == {"acme": 2, "globex": 1}
    Notification.objects.filter(organization=organization).update(state="sent")
    assert failed_by_organization() == {"acme": 0, "globex": 1}  # cleared, not vanished


# --- Migration 0007 ----------------------------------------------------------------------

BEFORE = [("analytics", "0006_rollup_mismatch")]
AFTER = [("analytics", "0007_outbox_failed")]


@pytest.mark.django_db(transaction=True)
def test_migration_0007_keeps_every_rows_state(organization):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        at = datetime(2026, 12, 1, tzinfo=UTC)
        with connection.cursor() as cursor:
            for state in ("pending", "sending", "sent"):
                cursor.execute(
                    "INSERT INTO analytics_notification (organization_id, dedup_key, recipient, "
                    "subject, body_text, body_html, state, attempts, next_attempt_at, "
                    "last_error, created_at) VALUES (%s, %s, 'ops@example.com', %s, '', '', "
                    "%s, 7, %s, 'old error', %s)",
                    [organization.pk, f"m:{state}", state, state, at, at],
                )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT subject, state, attempts, last_error, failed_at "
                "FROM analytics_notification ORDER BY subject"
            )
            rows = cursor.fetchall()
        assert rows == [
            ("pending", "pending", 7, "old error", None),
            ("sending", "sending", 7, "old error", None),
            ("sent", "sent", 7, "old error", None),
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert set(Notification.objects.values_list("state", flat=True)) == {
        NotificationState.PENDING,
        NotificationState.SENDING,
        NotificationState.SENT,
    }
