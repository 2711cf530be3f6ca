"""Reads of alerts for the API and the dashboard, tenant-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from analytics.models import Alert, AlertState
from governance.models import Project

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
