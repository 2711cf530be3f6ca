"""Alerts: what is firing and pending now, what resolved in the window, and every state
change in the window; acknowledging and silencing go through the API's service functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from analytics.alerts.actions import alert_silence
from analytics.alerts.selectors import alerts_for
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import count, ms
from analytics.formatting import NA, percent, usd
from analytics.models import Alert, AlertEvaluation, AlertState
from governance.models import AlertKind

ROWS_SHOWN = 200
SILENCE_CHOICES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "4h": ("4 hours", timedelta(hours=4)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
}
RATE_KINDS = (AlertKind.OVER_INTERCEPTION, AlertKind.ERROR_RATE, AlertKind.MODEL_FAILURE)


def alert_value(alert: Alert, value: float | None) -> str:
    """A value or threshold in the alert kind's unit."""
    if value is None:
        return NA
    if alert.kind in RATE_KINDS:
        return percent(value)
    if alert.kind == AlertKind.LATENCY_SLO:
        return ms(value)
    if alert.kind == AlertKind.COST_OVERRUN:
        # A budget's alert measures percent of its amount; a rule's, dollars in its window.
        return f"{value:,.1f}% of budget" if alert.budget_id else usd(value)
    if alert.kind == AlertKind.ARCHITECTURE_MISMATCH:
        return count(value, "findings")
    return f"PSI {value:.3f}"


def alert_row(alert: Alert, *, highlight: int | None) -> dict[str, Any]:
    """An alert as a table row: its name, value and threshold in its unit, since when."""
    return {
        "alert": alert,
        "name": alert.name,
        "value": alert_value(alert, alert.value),
        "threshold": alert_value(alert, alert.threshold),
        "since": alert.firing_since if alert.state == AlertState.FIRING else alert.pending_since,
        "highlight": alert.pk == highlight,
    }


def organization_alerts(selection: Selection, *, organization_id: int) -> QuerySet[Alert]:
    """The organization's alerts, of the filtered project when one is picked."""
    project = selection.query.applied.get("project")
    return alerts_for(
        organization_id=organization_id,
        project_ids=None,
        filters={"project": project} if project else {},
    )


def alerts_context(
    selection: Selection, *, organization_id: int, highlight: int | None
) -> dict[str, Any]:
    """The alerts page: counts, open and resolved alerts, and the state changes in the window."""
    window = selection.window
    alerts = organization_alerts(selection, organization_id=organization_id)
    resolved_in_window = Q(
        state=AlertState.RESOLVED, resolved_at__gte=window.start, resolved_at__lt=window.end
    )
    counts = alerts.aggregate(
        firing=Count("pk", filter=Q(state=AlertState.FIRING)),
        pending=Count("pk", filter=Q(state=AlertState.PENDING)),
        resolved=Count("pk", filter=resolved_in_window),
    )
    open_alerts = alerts.filter(state__in=(AlertState.FIRING, AlertState.PENDING))
    history = (
        AlertEvaluation.objects.filter(
            alert__in=alerts, evaluated_at__gte=window.start, evaluated_at__lt=window.end
        )
        .exclude(state_before=F("state_after"))
        .select_related("alert__rule", "alert__budget", "alert__project")
        .order_by("-evaluated_at", "-pk")[:ROWS_SHOWN]
    )
    return {
        "counts": counts,
        "open": [alert_row(a, highlight=highlight) for a in open_alerts[:ROWS_SHOWN]],
        "resolved": [
            alert_row(a, highlight=highlight)
            for a in alerts.filter(resolved_in_window)[:ROWS_SHOWN]
        ],
        "history": [
            {
                "evaluation": evaluation,
                "name": alert.name,
                "value": alert_value(alert, evaluation.value),
            }
            for evaluation in history
            if (alert := evaluation.alert) is not None  # always: read by alert__in
        ],
        "silence_choices": [(key, label) for key, (label, _) in SILENCE_CHOICES.items()],
        "highlight": highlight,
    }


# --- Actions ------------------------------------------------------------------------------


def alert_in_organization(organization_id: int, alert_id: int) -> Alert | None:
    """The organization's alert with this id, or None (another's is not found either)."""
    return (
        alerts_for(organization_id=organization_id, project_ids=None, filters={})
        .filter(pk=alert_id)
        .first()
    )


def silence_for(alert: Alert, *, choice: str, now: datetime) -> Alert:
    """Silence for one of the offered durations; ValueError names a bad choice."""
    if choice not in SILENCE_CHOICES:
        raise ValueError(f"choose a silence of {', '.join(SILENCE_CHOICES)}")
    return alert_silence(alert, until=now + SILENCE_CHOICES[choice][1], now=now)
