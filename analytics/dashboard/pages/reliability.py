"""Reliability (ops): latency percentiles per model over time, error rate, availability,
fallbacks, and how long traffic took to migrate off a failing model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q
from django.utils.safestring import SafeString

from analytics.alerts.selectors import alerts_for
from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, amount, figure, ms
from analytics.dashboard.series import lines
from analytics.dashboard.thresholds import active_rules, rule_thresholds
from analytics.formatting import percent
from analytics.metrics.breakdowns import metrics_models
from analytics.metrics.results import Summary
from analytics.metrics.summary import metrics_summary
from analytics.models import Alert
from governance.models import AlertKind, AlertRule

PERCENTILE_CHARTS = (("p50", "P50"), ("p95", "P95"), ("p99", "P99"))
INCIDENTS_SHOWN = 50


def reliability_figures(summary: Summary, fallbacks: int) -> list[Figure]:
    """The reliability page's headline figures: volume, errors, latency, fallbacks."""
    latency = summary.latency_ms
    return [
        figure("attempts", "Attempts (model calls)", "count", summary.attempts, unit="attempts"),
        figure("requests", "Requests", "count", summary.requests, unit="requests"),
        figure("error_rate", "Error rate", "rate", summary.error_rate, note="of attempts"),
        figure(
            "availability",
            "Availability",
            "rate",
            summary.availability,
            note="requests with an ok attempt",
        ),
        figure("latency_p50_ms", "P50 latency", "ms", latency.p50),
        figure("latency_p95_ms", "P95 latency", "ms", latency.p95),
        figure("latency_p99_ms", "P99 latency", "ms", latency.p99),
        figure("latency_mean_ms", "Mean latency", "ms", latency.mean),
        figure(
            "fallbacks",
            "Fallback attempts",
            "count",
            fallbacks,
            unit="attempts",
            note="calls that migrated away from another model",
        ),
    ]


def model_incidents(selection: Selection, *, organization_id: int) -> list[dict[str, Any]]:
    """Model-failure alerts open at any time in the window, with their migration time."""
    query, window = selection.query, selection.window
    filters: dict[str, str] = {"kind": AlertKind.MODEL_FAILURE}
    if "project" in query.applied:
        filters["project"] = query.applied["project"]
    alerts = alerts_for(organization_id=organization_id, project_ids=None, filters=filters)
    alerts = alerts.filter(
        Q(pending_since__lt=window.end) | Q(firing_since__lt=window.end),
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=window.start),
    )
    if query.model:
        alerts = alerts.filter(scope=f"model:{query.model}")
    return [_incident(alert) for alert in alerts[:INCIDENTS_SHOWN]]


def _incident(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert,
        "model": alert.scope.removeprefix("model:"),
        "first_failure_at": alert.details.get("first_failure_at"),
        "migration_seconds": alert.details.get("migration_seconds"),
    }


def reliability_context(selection: Selection, *, organization_id: int) -> dict[str, Any]:
    """The reliability page: figures, the per-model table, incidents and latency charts."""
    query = selection.query
    summary = metrics_summary(query)
    empty = not summary.attempts and not summary.requests
    incidents = model_incidents(selection, organization_id=organization_id)
    if empty:
        return {
            "empty": True,
            "figures": reliability_figures(summary, 0),
            "models": [],
            "incidents": incidents,
            "charts": [],
        }
    rules = active_rules(query)
    fallback_lines = lines(selection, "fallbacks", group_by="model", zero_when_missing=True)
    fallbacks = int(sum(value or 0 for line in fallback_lines for _, value in line.points))
    return {
        "empty": False,
        "figures": reliability_figures(summary, fallbacks),
        "models": metrics_models(query),
        "incidents": incidents,
        "charts": [
            *latency_charts(selection, rules),
            *traffic_charts(selection, rules, fallback_lines),
        ],
    }


def with_rule_scope(
    selection: Selection,
    metric: str,
    rules: Sequence[AlertRule],
    kind: str,
    name: str,
) -> tuple[list[charts.Series], list[charts.Threshold]]:
    """Lines per model, and the rules of `kind` that judge them; when a project-wide rule of
    `kind` applies, the project's own line too (named `name`), so its threshold is drawn
    against the series it judges rather than against one model's."""
    per_model = lines(selection, metric, group_by="model")
    thresholds = rule_thresholds(rules, kind, per_model=True)
    whole = rule_thresholds(rules, kind)
    if not whole:
        return per_model, thresholds
    # Last, so each model keeps the colour it has on the other charts of the page.
    return [*per_model, *lines(selection, metric, name=name)], thresholds + whole


def latency_charts(selection: Selection, rules: Sequence[AlertRule]) -> list[SafeString]:
    """P50, P95 and P99 latency per model on a log axis (one slow model does not flatten the
    others); P95 against the latency SLOs, with the project's P95 when an SLO judges it."""
    start, end = selection.buckets()[0], selection.window.end
    answer = []
    for name, label in PERCENTILE_CHARTS:
        metric = f"latency_{name}_ms"
        series, thresholds = (
            with_rule_scope(selection, metric, rules, AlertKind.LATENCY_SLO, "All models")
            if name == "p95"
            else (lines(selection, metric, group_by="model"), [])
        )
        answer.append(
            charts.line_chart(
                series,
                title=f"{label} latency per model",
                y_label="latency (ms)",
                fmt=ms,
                start=start,
                end=end,
                thresholds=thresholds,
                axis="log",
            )
        )
    return answer


def traffic_charts(
    selection: Selection, rules: Sequence[AlertRule], fallback_lines: list[charts.Series]
) -> list[SafeString]:
    """Error rate per model against its rules, availability, and fallbacks per model."""
    start, end = selection.buckets()[0], selection.window.end
    errors, error_thresholds = with_rule_scope(
        selection, "error_rate", rules, AlertKind.ERROR_RATE, "All models"
    )
    return [
        charts.line_chart(
            errors,
            title="Error rate per model",
            y_label="error rate",
            fmt=percent,
            start=start,
            end=end,
            thresholds=rule_thresholds(rules, AlertKind.MODEL_FAILURE, per_model=True)
            + error_thresholds,
        ),
        charts.line_chart(
            lines(selection, "availability", name="Availability"),
            title="Availability (requests with an ok attempt)",
            y_label="availability",
            fmt=percent,
            start=start,
            end=end,
            axis="fitted",
        ),
        charts.line_chart(
            fallback_lines,
            title="Fallback attempts per model they fell back to",
            y_label="attempts",
            fmt=amount,
            whole=True,
            start=start,
            end=end,
            empty="No fallbacks in this window",
        ),
    ]
