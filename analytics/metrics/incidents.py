"""Traffic migration time of the window's model incidents, per mode (DESIGN.md "Architecture
comparison and advice", reliability).

A model incident is what a `model_failure` rule judged one: its alert opened (pending, or
firing at once) at an evaluation in the window, and lasted until the evaluation that
resolved it (or until now while it is open). Alert records keep only their latest incident,
so the incidents are read from the evaluations kept for audit. Within each mode's traffic (the
attempts' own mode, as the attempt figures are split), the incident's migration time is
measured as the alert measures it (analytics.alerts.measurements.migration_time): from the
model's first failed attempt of that mode since the rule's window before the incident opened,
to the first minute that mode's fallbacks from the model served with an error rate under the
rule's threshold. An incident counts for a mode when that mode's traffic migrated.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from analytics.metrics.query import MetricsQuery
from analytics.metrics.results import MigrationTimes
from analytics.models import AlertEvaluation, AlertState
from analytics.models.alerts import OPENED, OPENED_FROM
from governance.models import AlertKind, AlertRule
from ingestion.selectors import FailoverSpan, models_failover_by_mode

NO_MIGRATIONS = MigrationTimes(count=0, median_s=None, max_s=None)


@dataclass(frozen=True)
class _Incident:
    rule: AlertRule
    scope: str
    opened_at: datetime


def _incidents(query: MetricsQuery) -> list[_Incident]:
    """The model incidents of the query's projects that opened in its window (of its model
    only, under a model filter; an incident is a project's model's, whatever the service
    or environment, so those filters leave it whole)."""
    opened = (
        AlertEvaluation.objects.filter(
            rule__project__in=query.project_ids,
            rule__kind=AlertKind.MODEL_FAILURE,
            state_before__in=OPENED_FROM,
            state_after__in=OPENED,
            evaluated_at__gte=query.window.start,
            evaluated_at__lt=query.window.end,
        )
        .select_related("rule")
        .order_by("evaluated_at", "pk")
    )
    if query.model is not None:
        opened = opened.filter(scope=f"model:{query.model}")
    return [
        _Incident(rule=row.rule, scope=row.scope, opened_at=row.evaluated_at)
        for row in opened
        if row.rule is not None
    ]


def _resolutions(incidents: list[_Incident]) -> dict[tuple[int, str], list[datetime]]:
    """When each (rule, scope) of these incidents resolved from their first opening on."""
    if not incidents:
        return {}
    resolved = AlertEvaluation.objects.filter(
        rule__in={incident.rule.pk for incident in incidents},
        scope__in={incident.scope for incident in incidents},
        state_before__in=OPENED,
        state_after=AlertState.RESOLVED,
        evaluated_at__gte=min(incident.opened_at for incident in incidents),
    ).order_by("evaluated_at")
    found: dict[tuple[int, str], list[datetime]] = {}
    for rule_id, scope, moment in resolved.values_list("rule_id", "scope", "evaluated_at"):
        found.setdefault((rule_id, scope), []).append(moment)
    return found


def _span(incident: _Incident, resolutions: list[datetime], now: datetime) -> FailoverSpan:
    rule = incident.rule
    until = next((moment for moment in resolutions if moment > incident.opened_at), now)
    return FailoverSpan(
        project_id=rule.project_id,
        model=incident.scope.removeprefix("model:"),
        since=incident.opened_at - timedelta(minutes=rule.window_minutes),
        until=until,
        error_rate_below=rule.effective_threshold,
    )


def migration_times_by_mode(query: MetricsQuery) -> dict[str, MigrationTimes]:
    """Per mode whose traffic migrated in any of the window's model incidents: how many did,
    and the median and longest migration time in seconds. Three reads whatever the number
    of modes and incidents."""
    incidents = _incidents(query)
    resolutions = _resolutions(incidents)
    now = timezone.now()
    spans = [
        _span(incident, resolutions.get((incident.rule.pk, incident.scope), []), now)
        for incident in incidents
    ]
    seconds: dict[str, list[float]] = {}
    for failover in models_failover_by_mode(spans=spans):
        if failover.migrated_at is not None:
            elapsed = (failover.migrated_at - failover.first_failure_at).total_seconds()
            seconds.setdefault(failover.mode, []).append(max(0.0, elapsed))
    return {
        mode: MigrationTimes(
            count=len(values),
            median_s=round(statistics.median(values), 3),
            max_s=round(max(values), 3),
        )
        for mode, values in seconds.items()
    }
