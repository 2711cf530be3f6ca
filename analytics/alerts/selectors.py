"""Reads of alerts for the API and the dashboard, tenant-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from analytics.models import Alert, AlertEvaluation, AlertState, Notification
from governance.models import Project

TRANSITIONS_SHOWN = 100
DELIVERIES_SHOWN = 100

ALERT_FILTERS = ("state", "kind", "severity")


def visible_projects(
    organization_id: int, project_ids: tuple[int, ...] | None
) -> QuerySet[Project]:
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


@dataclass(frozen=True, slots=True)
class Judgement:
    """One evaluation of an alert's rule or budget over the alert's scope: the value the
    rule measured (analytics.alerts.measurements) and whether it breached the line."""

    at: datetime
    value: float | None
    breached: bool


def alert_judgements(alert: Alert, *, start: datetime, end: datetime) -> list[Judgement]:
    """Every judgement of the alert's rule (or budget) and scope in [start, end), oldest
    first, including those from before the alert existed (kept with no alert)."""
    owner = {"rule_id": alert.rule_id} if alert.rule_id else {"budget_id": alert.budget_id}
    rows = (
        AlertEvaluation.objects.filter(
            **owner, scope=alert.scope, evaluated_at__gte=start, evaluated_at__lt=end
        )
        .order_by("evaluated_at", "pk")
        .values_list("evaluated_at", "value", "breached")
    )
    return [Judgement(at, value, breached) for at, value, breached in rows]


def alert_transitions(alert: Alert) -> list[AlertEvaluation]:
    """The alert's changes of state (pending, firing, resolved), newest first."""
    return list(
        AlertEvaluation.objects.filter(alert=alert)
        .exclude(state_before=F("state_after"))
        .order_by("-evaluated_at", "-pk")[:TRANSITIONS_SHOWN]
    )


def alert_deliveries(alert: Alert) -> list[Notification]:
    """The outbox rows the alert queued (one per recipient and event), newest first."""
    return list(
        Notification.objects.filter(alert=alert, organization_id=alert.organization_id)
        .only(
            "recipient",
            "subject",
            "state",
            "attempts",
            "last_error",
            "sent_at",
            "failed_at",
            "created_at",
            "next_attempt_at",
        )
        .order_by("-created_at", "-pk")[:DELIVERIES_SHOWN]
    )


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


@dataclass(frozen=True, slots=True)
class ProjectAlerts:
    """A project's alerts firing now, and those whose latest incident fired at some time in
    a window (the ones still firing included), so an incident already resolved is seen."""

    firing: int
    fired_in_window: int


def project_alert_counts(
    *, organization_id: int, project_ids: list[int], start: datetime, end: datetime
) -> dict[int, ProjectAlerts]:
    """Each project's alert counts (projects without alerts left out), in one grouped read."""
    fired = Q(firing_since__isnull=False, firing_since__lt=end) & (
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=start)
    )
    rows = (
        Alert.objects.filter(organization_id=organization_id, project_id__in=project_ids)
        .values("project_id")
        .annotate(
            firing=Count("pk", filter=Q(state=AlertState.FIRING)),
            fired=Count("pk", filter=fired),
        )
        .order_by()
    )
    return {
        row["project_id"]: ProjectAlerts(firing=row["firing"], fired_in_window=row["fired"])
        for row in rows
    }
