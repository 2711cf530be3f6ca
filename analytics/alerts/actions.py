"""What people do to an alert: acknowledge it, silence it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics.models import Alert, AlertState


def alert_acknowledge(alert: Alert, *, user: Any, now: datetime) -> Alert:
    """Someone is on it: reminders stop until the alert resolves."""
    if alert.state == AlertState.RESOLVED:
        raise ValueError("a resolved alert needs no acknowledgement")
    alert.acknowledged_at, alert.acknowledged_by, alert.updated_at = now, user, now
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
    return alert


def alert_silence(alert: Alert, *, until: datetime, now: datetime) -> Alert:
    """No notifications for this alert until `until` (state changes are still recorded)."""
    if until <= now:
        raise ValueError("must be in the future")
    alert.silenced_until, alert.updated_at = until, now
    alert.save(update_fields=["silenced_until", "updated_at"])
    return alert
