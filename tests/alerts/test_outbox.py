"""SMTP down, then up (a real aiosmtpd server on loopback): every notification is delivered,
none lost; a sender killed between send and mark re-sends under the same Message-ID. A server
that keeps refusing uses up the attempts: the row turns `failed` with its last error, is never
picked again, and "send again" (notifications_resend) delivers it exactly once."""

from __future__ import annotations

import contextlib
import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from analytics.delivery.outbox import CLAIM_LEASE, notifications_resend, notifications_send, notify
from analytics.models import Notification, NotificationState

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.refusing = False  # answer every message with a temporary failure

    async def handle_DATA(self, server, session, envelope):
        if self.refusing:
            return "451 4.3.0 Mailbox busy, try later"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(settings):
    port = _free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    yield controller, inbox
    with contextlib.suppress(AssertionError):  # never started by the test
        controller.stop()


def _queue(organization, count: int) -> None:
    now = timezone.now()
    for index in range(count):
        notify(
            organization=organization,
            recipients=[f"ops{index}@example.com"],
            dedup_key=f"test:{index}",
            template="budget_test",
            context={"index": index},
            now=now,
        )


@pytest.fixture(autouse=True)
def _templates(tmp_path, settings):
    folder = tmp_path / "emails"
    folder.mkdir()
    (folder / "budget_test_subject.txt").write_text("Test {{ index }}")
    (folder / "budget_test.txt").write_text("Plain {{ index }}")
    (folder / "budget_test.html").write_text("<p>Html {{ index }}</p>")
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]


def test_smtp_down_then_up_delivers_every_notification_exactly_once(smtp, organization):
    controller, inbox = smtp
    _queue(organization, 5)
    _queue(organization, 5)  # the same dedup keys again: nothing more is queued
    assert Notification.objects.count() == 5

    first = notifications_send()  # the server is not started yet: connection refused
    assert (first.sent, first.failed) == (0, 5)
    assert set(Notification.objects.values_list("state", flat=True)) == {"pending"}
    assert all(n.next_attempt_at > timezone.now() for n in Notification.objects.all())
    refused = Notification.objects.first()
    assert refused is not None and "ConnectionRefusedError" in refused.last_error

    controller.start()
    later = timezone.now() + timedelta(hours=2)  # past every backoff
    second = notifications_send(now=later)
    assert (second.sent, second.failed) == (5, 0)
    assert notifications_send(now=later + timedelta(hours=1)).sent == 0
    assert sorted(m["Subject"] for m in inbox.messages) == [f"Test {i}" for i in range(5)]
    assert len({m["Message-ID"] for m in inbox.messages}) == 5
    assert all(n.state == NotificationState.SENT for n in Notification.objects.all())
    parts = [part.get_content_type() for part in inbox.messages[0].walk()]
    assert "text/plain" in parts and "text/html" in parts


def test_a_sender_killed_between_send_and_mark_resends_under_the_same_message_id(
    smtp, organization, monkeypatch
):
    controller, inbox = smtp
    controller.start()
    _queue(organization, 3)

    class Killed(BaseException):
        """Stands for SIGKILL: nothing after the send runs in that process."""

    from analytics.delivery import outbox as notifications

    real_update = notifications.Notification.objects.filter

    def die_on_mark(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(notifications.Notification.objects, "filter", die_on_mark)
    with pytest.raises(Killed):
        notifications_send()
    monkeypatch.setattr(notifications.Notification.objects, "filter", real_update)
    assert len(inbox.messages) == 1  # accepted by the server, never marked

    # The dead sender's claim holds its batch until the lease ends; then all of it goes out.
    assert notifications_send().sent == 0
    after_lease = timezone.now() + notifications.CLAIM_LEASE + timedelta(seconds=1)
    assert notifications_send(now=after_lease).sent == 3
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 3
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == 4 and len(set(ids)) == 3  # the re-send is the same message to a client


def _refused_until_failed(inbox, attempts: int):
    """Run the sender past every backoff until the refused row has used `attempts` sends;
    returns the last run and its time."""
    now = timezone.now()
    inbox.refusing = True
    runs = []
    for _ in range(attempts):
        now += timedelta(hours=3)  # past the longest backoff (2 h)
        runs.append(notifications_send(now=now))
    return runs, now


def test_after_the_cap_the_row_is_failed_keeps_its_last_error_and_is_never_picked_again(
    smtp, organization, settings
):
    settings.TOLLGATE_OUTBOX_MAX_ATTEMPTS = 3
    controller, inbox = smtp
    controller.start()
    _queue(organization, 1)

    runs, failed_at = _refused_until_failed(inbox, 3)
    assert [(run.failed, run.gave_up) for run in runs] == [(1, 0), (1, 0), (1, 1)]
    row = Notification.objects.get()
    assert row.state == NotificationState.FAILED and row.attempts == 3
    assert row.failed_at == failed_at and row.claimed_until is None
    assert "SMTPDataError" in row.last_error and "Mailbox busy" in row.last_error

    inbox.refusing = False  # the server accepts again: a failed row still stays put
    for days in (1, 30):
        run = notifications_send(now=failed_at + timedelta(days=days))
        assert (run.sent, run.failed) == (0, 0)
    assert inbox.messages == []
    assert Notification.objects.get().state == NotificationState.FAILED


def test_send_again_delivers_a_failed_email_exactly_once(smtp, organization, settings):
    settings.TOLLGATE_OUTBOX_MAX_ATTEMPTS = 2
    controller, inbox = smtp
    controller.start()
    _queue(organization, 2)
    _refused_until_failed(inbox, 2)
    assert set(Notification.objects.values_list("state", flat=True)) == {"failed"}
    inbox.refusing = False
    first, second = Notification.objects.order_by("pk")

    now = timezone.now()
    queued = notifications_resend(notifications=Notification.objects.filter(pk=first.pk), now=now)
    assert queued == [first.pk]
    first.refresh_from_db()
    assert (first.state, first.attempts, first.failed_at) == ("pending", 0, None)
    assert notifications_send(now=now).sent == 1
    # Asking for all of them again queues only the one not yet sent; nothing goes out twice.
    assert notifications_resend(notifications=Notification.objects.all(), now=now) == [second.pk]
    assert notifications_send(now=now).sent == 1  # only the second, resent just above
    assert notifications_send(now=now + timedelta(days=1)).sent == 0
    assert sorted(m["Subject"] for m in inbox.messages) == ["Test 0", "Test 1"]
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 2


def test_a_claim_abandoned_on_its_last_attempt_fails_instead_of_looping(
    smtp, organization, settings
):
    """A mail whose senders keep dying mid-send (the lease expires each time) stops at the
    cap too; below the cap it is re-sent as before."""
    settings.TOLLGATE_OUTBOX_MAX_ATTEMPTS = 2
    controller, inbox = smtp
    controller.start()
    _queue(organization, 2)
    now = timezone.now()
    stale = now - CLAIM_LEASE  # the claim of a sender that died
    spent, retried = Notification.objects.order_by("pk")
    Notification.objects.filter(pk=spent.pk).update(
        state="sending", attempts=2, claimed_until=stale
    )
    Notification.objects.filter(pk=retried.pk).update(
        state="sending", attempts=1, claimed_until=stale
    )

    assert notifications_send(now=now).sent == 1
    spent.refresh_from_db()
    assert spent.state == NotificationState.FAILED and spent.failed_at == now
    assert "stopped before recording" in spent.last_error
    assert [m["Subject"] for m in inbox.messages] == ["Test 1"]  # the retried one only
