"""The notification outbox: emails written with the state change that causes them, sent later.

`notify` adds rows inside the caller's transaction (so a rolled-back state change sends
nothing, and a committed one cannot lose its mail); `notifications_send` claims due rows,
sends each over SMTP and marks it sent only once the server accepted it. A failed send is
retried with exponential backoff and jitter, up to `TOLLGATE_OUTBOX_MAX_ATTEMPTS` sends; the
row then turns `failed` (terminal: never claimed again) with its last error, until an admin's
"Send again" (`notifications_resend`) queues it anew. A sender that dies after sending but
before marking leaves its claim to expire; the mail is then sent again with the same
Message-ID, so mail clients show it once.
"""

from __future__ import annotations

import contextlib
import random
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from analytics.models import Alert, Notification, NotificationState
from governance.models import Membership, Organization

BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 2 * 3600  # with the default attempts, retries span 12 to 24 hours
CLAIM_LEASE = timedelta(minutes=2)  # longer than one send's SMTP timeout
SEND_BATCH = 100
SMTP_ERRORS = (smtplib.SMTPException, OSError)


def recipients_for(
    organization: Organization, explicit: list[str], roles: tuple[str, ...]
) -> list[str]:
    """The addresses a rule names, else those of the organization's members in these roles."""
    if explicit:
        return sorted(set(explicit))
    emails = Membership.objects.filter(organization=organization, role__in=roles).values_list(
        "user__email", flat=True
    )
    return sorted({email for email in emails if email})


def notify(
    *,
    organization: Organization,
    recipients: list[str],
    dedup_key: str,
    template: str,
    context: dict[str, Any],
    alert: Alert | None = None,
    now: datetime,
) -> int:
    """Queue one email per recipient, rendered now from `templates/emails/<template>.*`;
    a dedup key already queued is skipped. Returns the number queued."""
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    queued = 0
    for recipient in recipients:
        try:
            with transaction.atomic():
                Notification.objects.create(
                    organization=organization,
                    alert=alert,
                    dedup_key=f"{dedup_key}:{recipient}"[:300],
                    recipient=recipient,
                    subject=subject[:300],
                    body_text=text,
                    body_html=html,
                    next_attempt_at=now,
                    created_at=now,
                )
            queued += 1
        except IntegrityError:
            continue  # already queued by an earlier evaluation
    return queued


@dataclass
class SendRun:
    sent: int = 0
    failed: int = 0  # sends that failed in this run, retried later or given up
    gave_up: int = 0  # of those, rows that ran out of attempts and are now `failed`

    def summary(self) -> str:
        """The run in one line, as the commands print it."""
        line = (
            f"notifications: {self.sent} sent, {self.failed - self.gave_up} failed (retried later)"
        )
        if self.gave_up:
            line += f", {self.gave_up} out of attempts (marked failed)"
        return line


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - not crypto


def max_attempts() -> int:
    """Sends a notification gets before it is marked failed (TOLLGATE_OUTBOX_MAX_ATTEMPTS)."""
    return int(settings.TOLLGATE_OUTBOX_MAX_ATTEMPTS)


def _claim(now: datetime, limit: int) -> list[Notification]:
    """Take due rows (and rows whose sender's lease expired) for this sender, committed, so
    two senders never hold the same row. `failed` and `sent` rows are never taken."""
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=NotificationState.PENDING, next_attempt_at__lte=now)
                | Q(state=NotificationState.SENDING, claimed_until__lt=now)
            )
            .order_by("next_attempt_at", "pk")[:limit]
        )
        # A row whose senders kept dying mid-send (a mail that crashes the worker, say) has
        # used its attempts like any other: it stops here instead of looping forever.
        abandoned = [n for n in due if n.state == NotificationState.SENDING]
        spent = [n.pk for n in abandoned if n.attempts >= max_attempts()]
        if spent:
            Notification.objects.filter(pk__in=spent).update(
                state=NotificationState.FAILED,
                claimed_until=None,
                failed_at=now,
                last_error="the sender stopped before recording the outcome of the last attempt",
            )
            due = [n for n in due if n.pk not in spent]
        for notification in due:
            notification.state = NotificationState.SENDING
            notification.claimed_until = now + CLAIM_LEASE
            notification.attempts += 1
        Notification.objects.bulk_update(due, ["state", "claimed_until", "attempts"])
    return due


def message_for(notification: Notification) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=notification.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={"Message-ID": notification.message_id},
    )
    message.attach_alternative(notification.body_html, "text/html")
    return message


def notifications_send(*, now: datetime | None = None, limit: int = SEND_BATCH) -> SendRun:
    """Send due notifications; each is marked sent only after the SMTP server accepted it."""
    now = now or timezone.now()
    run = SendRun()
    claimed = _claim(now, limit)
    if not claimed:
        return run
    try:
        connection = get_connection(fail_silently=False)
        connection.open()
    except SMTP_ERRORS as exc:
        run.gave_up = sum(_failed(notification, exc, now) for notification in claimed)
        run.failed = len(claimed)
        return run
    try:
        for notification in claimed:
            try:
                connection.send_messages([message_for(notification)])
            except SMTP_ERRORS as exc:
                run.gave_up += _failed(notification, exc, now)
                run.failed += 1
                continue
            Notification.objects.filter(pk=notification.pk).update(
                state=NotificationState.SENT, sent_at=timezone.now(), last_error=""
            )
            run.sent += 1
    finally:
        with contextlib.suppress(*SMTP_ERRORS):  # sends are already marked either way
            connection.close()
    return run


def _failed(notification: Notification, exc: BaseException, now: datetime) -> bool:
    """Record a failed send: retried after a backoff, or `failed` for good once the attempts
    are used up. True when the row gave up."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    rows = Notification.objects.filter(pk=notification.pk)
    if notification.attempts >= max_attempts():
        rows.update(
            state=NotificationState.FAILED, claimed_until=None, failed_at=now, last_error=error
        )
        return True
    rows.update(
        state=NotificationState.PENDING,
        claimed_until=None,
        next_attempt_at=now + backoff(notification.attempts),
        last_error=error,
    )
    return False


def notifications_resend(*, notifications: QuerySet[Notification], now: datetime) -> list[int]:
    """Queue failed and pending notifications to go out on the sender's next run, with their
    attempts counted afresh. Sent ones are left alone (a resend never duplicates a delivered
    mail) and so are those being sent right now. Returns the ids queued."""
    with transaction.atomic():
        # Locked, so a sender claiming one of them meanwhile cannot have it counted here.
        ids = list(
            notifications.filter(state__in=[NotificationState.FAILED, NotificationState.PENDING])
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(pk__in=ids).update(
            state=NotificationState.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_until=None,
            failed_at=None,
        )
    return ids


def dashboard_url(path: str) -> str:
    return settings.TOLLGATE_BASE_URL.rstrip("/") + path
