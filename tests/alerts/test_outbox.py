"""SMTP down, then up (a real aiosmtpd server on loopback): every notification is delivered,
none lost; a sender killed between send and mark re-sends under the same Message-ID."""

from __future__ import annotations

import contextlib
import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from analytics.models import Notification, NotificationState
from analytics.notifications import notifications_send, notify

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
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
    assert "ConnectionRefusedError" in Notification.objects.first().last_error

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

    from analytics import notifications

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
