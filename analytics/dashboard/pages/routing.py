"""Routing: the model mix against the expected shares, PSI and band conformance over time,
the complexity bands each project routes by, and models without a price."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics.dashboard import charts
from analytics.dashboard.filters import Selection
from analytics.dashboard.formatting import Figure, figure
from analytics.dashboard.thresholds import active_rules, conformance_minimum, rule_thresholds
from analytics.formatting import percent
from analytics.metrics.queries import (
    metrics_drift,
    metrics_drift_timeseries,
    metrics_models,
    metrics_summary,
)
from governance.models import (
    DEFAULT_CONFORMANCE_MIN,
    DEFAULT_THRESHOLDS,
    AlertKind,
    ComplexityBand,
)

PSI_MODERATE = 0.1


def psi_text(value: float) -> str:
    """A PSI value as the charts print it (three places)."""
    return f"{value:.3f}"


def routing_figures(summary: dict[str, Any], models: list[dict[str, Any]]) -> list[Figure]:
    """The routing page's headline figures: attempts, models, routing latency, unpriced."""
    routing_latency = summary["routing_latency_ms"]
    return [
        figure("attempts", "Attempts", "count", summary["attempts"], unit="attempts"),
        figure("models_used", "Models used", "count", len(models), unit="models"),
        figure(
            "routing_latency_p50_ms",
            "Routing decision P50",
            "ms",
            routing_latency["p50"],
        ),
        figure("routing_latency_p95_ms", "Routing decision P95", "ms", routing_latency["p95"]),
        figure(
            "unpriced_attempts",
            "Unpriced attempts",
            "count",
            summary["unpriced_attempts"],
            unit="attempts",
            note="models not in the matrix: left out of every money figure",
        ),
    ]


def _series_by_project(
    points: list[dict[str, Any]], key: str, buckets: list[datetime]
) -> list[charts.Series]:
    values: dict[str, dict[datetime, float | None]] = {}
    for point in points:
        values.setdefault(point["project"], {})[datetime.fromisoformat(point["time"])] = point[key]
    return [
        charts.Series(project, [(moment, by_time.get(moment)) for moment in buckets])
        for project, by_time in sorted(values.items())
    ]


def bands_by_project(project_ids: list[int]) -> dict[int, list[ComplexityBand]]:
    """The complexity bands of each project, lowest score first, in one read."""
    answer: dict[int, list[ComplexityBand]] = {}
    for band in ComplexityBand.objects.filter(project_id__in=project_ids).order_by(
        "project_id", "min_score"
    ):
        answer.setdefault(band.project_id, []).append(band)
    return answer


def routing_context(selection: Selection) -> dict[str, Any]:
    """The routing page: figures, each project's mix and bands, drift over time."""
    query = selection.query
    summary = metrics_summary(query)
    models = metrics_models(query)
    drift = metrics_drift(query)
    bands = bands_by_project(query.project_ids)
    projects = [
        {"project": project, "drift": row, "bands": bands.get(project.pk, [])}
        for project, row in zip(query.projects, drift, strict=True)
    ]
    figures = routing_figures(summary, models)
    unpriced = [row for row in models if row["unpriced_attempts"]]
    if not summary["attempts"]:
        return {
            "empty": True,
            "figures": figures,
            "projects": projects,
            "unpriced": [],
            "charts": [],
        }
    rules = active_rules(query)
    buckets = selection.buckets()
    points = metrics_drift_timeseries(query, interval=selection.interval)
    psi_lines = rule_thresholds(
        rules,
        AlertKind.ROUTING_DRIFT,
        default=DEFAULT_THRESHOLDS[AlertKind.ROUTING_DRIFT],
        default_label="Drifted (PSI above 0.25)",
    )
    conformance_lines = rule_thresholds(
        rules,
        AlertKind.ROUTING_DRIFT,
        default=DEFAULT_CONFORMANCE_MIN,
        default_label="Conformance minimum (default)",
        value_of=conformance_minimum,
    )
    for project in projects:
        mix = project["drift"]["mix"]
        project["chart"] = charts.bar_chart(
            [row["model"] for row in mix],
            [
                charts.Bars("Actual share", [row["share"] for row in mix]),
                charts.Bars("Expected share", [row["expected_share"] for row in mix]),
            ],
            title=f"Model mix of {project['project'].name} against the expected shares",
            y_label="share of non-fallback attempts",
            fmt=percent,
            empty="No routed attempts in this window",
        )
    return {
        "empty": False,
        "figures": figures,
        "projects": projects,
        "unpriced": unpriced,
        "charts": [
            charts.line_chart(
                _series_by_project(points, "psi", buckets),
                title="PSI of the model mix per project (below 0.1 stable, above 0.25 drifted)",
                y_label="PSI",
                fmt=psi_text,
                start=buckets[0],
                end=selection.window.end,
                thresholds=[charts.Threshold(PSI_MODERATE, "Moderate (PSI 0.1)"), *psi_lines],
                empty="No reference mix to compare with in this window",
            ),
            charts.line_chart(
                _series_by_project(points, "conformance", buckets),
                title="Band conformance per project (attempts on the model their band expects)",
                y_label="conformance",
                fmt=percent,
                start=buckets[0],
                end=selection.window.end,
                thresholds=conformance_lines,
                empty="No complexity bands, or no scored attempts, in this window",
            ),
        ],
    }
