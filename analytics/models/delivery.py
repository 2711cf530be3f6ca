"""The outbox: every email a rule, a budget or the digest sends, kept until sent or failed."""

from __future__ import annotations

from django.db import models


class NotificationState(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"  # terminal: attempts ran out; only "Send again" revives it


class Notification(models.Model):
    """Outbox: an email written with the state change that caused it, sent by a task; after
    TOLLGATE_OUTBOX_MAX_ATTEMPTS failed sends it stays `failed` with its last error."""

    organization = models.ForeignKey(
        "governance.Organization", on_delete=models.CASCADE, related_name="+"
    )
    alert = models.ForeignKey(
        "analytics.Alert", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    dedup_key = models.CharField(max_length=300, unique=True)
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField()
    state = models.CharField(
        max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True)  # a sender's lease while it sends
    sent_at = models.DateTimeField(null=True)
    failed_at = models.DateTimeField(null=True)  # when the last allowed attempt failed
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notification_due")]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.recipient} ({self.state})"

    @property
    def message_id(self) -> str:
        """Stable per notification: a re-send after a crash is recognisably the same mail."""
        return f"<notification-{self.pk}@tollgate>"
