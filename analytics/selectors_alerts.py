"""Reads and actions on alerts and budgets for the API and the dashboard, tenant-scoped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from analytics.budgets import SpendLedger, budget_status
from analytics.models import Alert, AlertState
from governance.models import Budget, Project

ALERT_FILTERS = ("state", "kind", "severity")


def visible_projects(organization_id: int, project_ids: tuple[int, ...] | None) -> QuerySet:
    projects = Project.objects.filter(organization_id=organization_id)
    return projects if project_ids is None else projects.filter(pk__in=project_ids)


def alerts_for(
    *, organization_id: int, project_ids: tuple[int, ...] | None, filters: dict[str, str]
) -> QuerySet[Alert]:
    """Alerts of the caller's organization (and, for a key, its project), filtered."""
    alerts = Alert.objects.filter(organization_id=organization_id).select_related(
        "project", "rule", "budget", "acknowledged_by"
    )
    if project_ids is not None:
        alerts = alerts.filter(project_id__in=project_ids)
    if "project" in filters:
        alerts = alerts.filter(project__name=filters["project"])
    for name in ALERT_FILTERS:
        if name in filters:
            alerts = alerts.filter(**{name: filters[name]})
    return alerts.order_by("-updated_at", "-pk")


def alert_answer(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "name": alert.name,
        "kind": alert.kind,
        "project": alert.project.name if alert.project else None,
        "scope": alert.scope,
        "severity": alert.severity,
        "state": alert.state,
        "value": alert.value,
        "threshold": alert.threshold,
        "summary": alert.summary,
        "details": alert.details,
        "pending_since": _iso(alert.pending_since),
        "firing_since": _iso(alert.firing_since),
        "resolved_at": _iso(alert.resolved_at),
        "last_notified_at": _iso(alert.last_notified_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        "silenced_until": _iso(alert.silenced_until),
        "updated_at": _iso(alert.updated_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


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


def budgets_for(
    *, organization_id: int, project_ids: tuple[int, ...] | None, now: datetime
) -> list[dict[str, Any]]:
    budgets = Budget.objects.filter(organization_id=organization_id, is_active=True)
    if project_ids is not None:
        budgets = budgets.filter(project_id__in=project_ids)
    # One grouped read per distinct window serves every budget (no query per budget).
    ledger = SpendLedger(visible_projects(organization_id, project_ids))
    answer = []
    for budget in budgets.select_related("project", "organization").order_by("name"):
        status = budget_status(budget, now, spend_of=ledger)
        answer.append(
            {
                "id": budget.pk,
                "name": budget.name,
                "project": budget.project.name if budget.project else None,
                "scope": budget.scope_label,
                "period": budget.period,
                "period_start": status.period_start.isoformat(),
                "period_end": status.period_end.isoformat(),
                "amount_usd": f"{budget.amount_usd:.6f}",
                "spent_usd": f"{status.spent:.6f}",
                "run_rate_usd_per_day": f"{status.run_rate_per_day:.6f}",
                "forecast_usd": f"{status.forecast:.6f}",
                "percent": round(status.percent, 4),
                "status": status.status,
                "thresholds": budget.thresholds,
                "thresholds_crossed": status.crossed,
            }
        )
    return answer
