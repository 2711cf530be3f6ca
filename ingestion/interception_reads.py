"""The latest blocked and modified requests of a window, for the dashboard's interceptions
list (through `ingestion.selectors.interceptions_latest`).

One row per intercepting check, newest first. The window bounds the partitions read and the
timestamp BRIN the blocks of each; the projects bound the tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from governance.models import Project, Service
from ingestion.models import EnforcementEvent

INTERCEPTING_VERDICTS = ("block", "modify")
INTERCEPTION_FIELDS = (
    "seq", "timestamp", "request_id", "project_id", "service_id", "layer", "policy",
    "verdict", "violation", "severity",
)  # fmt: skip


@dataclass(frozen=True)
class Interception:
    """A check that blocked or modified a request."""

    seq: int
    timestamp: datetime
    request_id: str
    project: str
    service: str
    layer: str
    policy: str
    verdict: str
    violation: str | None
    severity: str | None


def intercepting_checks(
    *,
    project_ids: Sequence[int],
    start: datetime,
    end: datetime,
    service_ids: Sequence[int] | None = None,
    layer: str | None = None,
    policy: str | None = None,
) -> QuerySet[EnforcementEvent]:
    """The block and modify checks in [start, end) of these projects (and services, layer,
    policy when given), newest first (ties: the later ingested first)."""
    checks = EnforcementEvent.objects.filter(
        project_id__in=project_ids,
        timestamp__gte=start,
        timestamp__lt=end,
        verdict__in=INTERCEPTING_VERDICTS,
    )
    if service_ids is not None:
        checks = checks.filter(service_id__in=service_ids)
    if layer:
        checks = checks.filter(layer=layer)
    if policy:
        checks = checks.filter(policy=policy)
    return checks.order_by("-timestamp", "-seq")


def interceptions_latest(
    *,
    project_ids: Sequence[int],
    start: datetime,
    end: datetime,
    service_ids: Sequence[int] | None = None,
    layer: str | None = None,
    policy: str | None = None,
    limit: int = 50,
) -> list[Interception]:
    """The newest `limit` block and modify checks in [start, end) of these projects (and
    services, layer, policy when given), newest first, with project and service names."""
    if not project_ids or (service_ids is not None and not service_ids):
        return []
    checks = intercepting_checks(
        project_ids=project_ids,
        start=start,
        end=end,
        service_ids=service_ids,
        layer=layer,
        policy=policy,
    )
    rows = list(checks.values_list(*INTERCEPTION_FIELDS)[:limit])
    if not rows:
        return []
    projects = dict(Project.objects.filter(pk__in=project_ids).values_list("pk", "name"))
    services = dict(
        Service.objects.filter(pk__in={row[4] for row in rows}).values_list("pk", "name")
    )
    return [
        Interception(
            seq=seq,
            timestamp=timestamp,
            request_id=request_id,
            project=projects.get(project_id, str(project_id)),
            service=services.get(service_id, str(service_id)),
            layer=layer_name,
            policy=policy_name,
            verdict=verdict,
            violation=violation,
            severity=severity,
        )
        for (
            seq,
            timestamp,
            request_id,
            project_id,
            service_id,
            layer_name,
            policy_name,
            verdict,
            violation,
            severity,
        ) in rows
    ]
